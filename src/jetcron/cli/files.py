"""`jetcron apply` and `jetcron export`: schedules as files (JSON or TOML) kept in git.

A file is `{"schedules": {name: fields}}` with the fields of `jetcron.domain.fields` (the CLI's
option names and units) plus `paused` and `paused_reason`, and may hold a `calendars` table
(see cli/calendar_files.py). Decoding is strict: an unknown key
anywhere is an error naming the file, the key and the closest known one. Which files a
directory contributes is cli/walk.py's rule.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import typer

from jetcron import ids
from jetcron.cli import secrets
from jetcron.cli.common import (
    ActorOpt,
    ReasonOpt,
    ServerOpt,
    console,
    default_actor,
    err_console,
    handle_errors,
    run,
    table,
    with_nats,
)
from jetcron.cli.reconcile import (
    Desired,
    Plan,
    Step,
    command_of,
    plan,
    prune_refusal,
    rejections,
    state_of,
)
from jetcron.cli.walk import files_in, format_of
from jetcron.client import query, send_command
from jetcron.domain import jsontext
from jetcron.domain.commands import AnyCommand
from jetcron.domain.definition import ScheduleDefinition
from jetcron.domain.errors import InvalidField
from jetcron.domain.fields import (
    FIELDS,
    ScheduleFields,
    check,
    definition_of,
    did_you_mean,
    fields_of,
    renamed,
)
from jetcron.domain.typenames import type_words
from jetcron.domain.validation import validate_definition, validate_name
from jetcron.errors import InfrastructureError, InvalidInput, JetcronError

TOP_KEYS = ("schedules", "calendars")
"""`calendars` is read by cli/calendar_files.py."""


class FileEntry(ScheduleFields, frozen=True, kw_only=True, omit_defaults=True):
    """One schedule in a file: its fields, and whether it is paused."""

    paused: bool | None = None
    """True: keep it paused; false: active; left out: active unless the breaker paused it."""
    paused_reason: str = ""


ENTRY_KEYS = tuple(FileEntry.__struct_fields__)


def load_desired(path: Path) -> dict[str, Desired]:
    """Every schedule in a file or a directory of them (see cli/walk.py), checked and validated."""
    out: dict[str, Desired] = {}
    for file in files_in(path):
        for name, desired in _load_file(file).items():
            if name in out:
                first = out[name].where.rpartition(": schedules.")[0]
                raise InvalidInput(f"{file}: schedule {name!r} is defined twice (first in {first})")
            out[name] = desired
    return out


def decode_file(file: Path) -> dict[str, Any]:
    """A JSON or TOML file's top-level table; InvalidInput naming the file if it is none."""
    toml = format_of(file) == "TOML"
    data = file.read_bytes()
    if not toml and not data.strip():
        # why: msgspec says 'Input data was truncated'; an empty TOML file is an empty table
        raise InvalidInput(
            f'{file}: empty file: a JSON file holds an object, e.g. {{"schedules": {{}}}}'
        )
    try:
        raw = (msgspec.toml.decode if toml else jsontext.decode)(data)
    except msgspec.DecodeError as err:
        raise InvalidInput(f"{file}: not valid {'TOML' if toml else 'JSON'}: {err}") from err
    except jsontext.DuplicateKey as err:
        raise InvalidInput(f"{file}: {err}") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{file}: expected a table/object with a 'schedules' key")
    return raw


def _load_file(file: Path) -> dict[str, Desired]:
    raw = decode_file(file)
    for key in raw:
        if key not in TOP_KEYS:
            raise InvalidInput(f"{file}: unknown key {key!r}{did_you_mean(key, TOP_KEYS)}")
    schedules = raw.get("schedules", {})
    if not isinstance(schedules, dict):
        raise InvalidInput(f"{file}: 'schedules' must be a table/object of name -> fields")
    return {
        name: _entry(f"{file}: schedules.{name}", name, body, file.parent)
        for name, body in schedules.items()
    }


def _entry(where: str, name: str, body: Any, base: Path) -> Desired:
    if not isinstance(body, dict):
        raise InvalidInput(f"{where}: expected a table/object of fields")
    for key, value in body.items():
        _known_key(where, key, value)
    try:
        validate_name(name)
        values = {k: check(k, v) for k, v in body.items() if k in FIELDS}
        hidden: dict[str, str] = {}
        if values.get(secrets.OPTION):
            values[secrets.OPTION], hidden = secrets.file_refs(name, values[secrets.OPTION], base)
        if "spec" not in values:
            raise InvalidInput("spec is missing")
        paused = typed(f"{where}.paused", body.get("paused"), bool | None, "true or false")
        reason = typed(f"{where}.paused_reason", body.get("paused_reason", ""), str, "a string")
        definition = validate_definition(definition_of(ScheduleFields(**values)))
    except InvalidField as err:
        raise InvalidInput(f"{where}.{err.key}: {err.problem}") from None
    except (InvalidInput, msgspec.ValidationError) as err:
        if str(err).startswith(f"{where}."):
            raise
        raise InvalidInput(f"{where}: {err}") from None
    return Desired(
        definition=definition,
        paused=paused,
        paused_reason=reason,
        secret_values=hidden,
        where=where,
    )


def typed(where: str, value: Any, kind: Any, expected: str) -> Any:
    """`value` as `kind`; InvalidInput '{where}: expected {expected}, got ...' otherwise."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError:
        raise InvalidInput(f"{where}: expected {expected}, got {value!r}") from None


def located(where: str, err: msgspec.ValidationError, body: Any) -> InvalidInput:
    """A msgspec error inside a file's table `body`, named by its key and value:
    `where.dates[0]: '2026-02-30' is not a date ...`."""
    text, sep, path = str(err).rpartition(" - at `$")
    if not sep:
        return InvalidInput(f"{where}: {err}")
    path = path.rstrip("`")
    if text in _PLAIN:
        return InvalidInput(f"{where}{path}: {_at_path(body, path)!r} {_PLAIN[text]}")
    if (wrong := re.fullmatch(r"Expected `([^`]+)`, got `[^`]+`", text)) is not None:
        value = _at_path(body, path)
        return InvalidInput(f"{where}{path}: {value!r}: must be {type_words(wrong[1])}")
    return InvalidInput(f"{where}{path}: {text.replace('`', '')}")


def _at_path(body: Any, path: str) -> Any:
    """The value at a msgspec path such as `.dates[0]` (None if it is not there)."""
    for key, index in re.findall(r"\.(\w+)|\[(\d+)\]", path):
        try:
            body = body[key] if key else body[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return body


_PLAIN = {
    "Invalid RFC3339 encoded date": "is not a date: write YYYY-MM-DD (a day that exists)",
}
"""msgspec's wording, in a file's terms."""


def _known_key(where: str, key: str, value: Any) -> None:
    """An unknown key is an error; a key of the old nested format names its replacements."""
    nested = key in FIELDS and isinstance(value, dict) and FIELDS[key].base is not dict
    if key in ENTRY_KEYS and not nested:
        return
    if new := [k for k in renamed(key) if k != key or nested]:
        raise InvalidInput(
            f"{where}: {key!r} is the old file format: write {', '.join(new)} "
            '(the CLI\'s option names, durations as strings like "20s")'
        )
    raise InvalidInput(f"{where}: unknown key {key!r}{did_you_mean(key, ENTRY_KEYS)}")


def entry_of(row: dict[str, Any]) -> FileEntry:
    """A live schedule as a file writes it: defaults left out, paused (by anyone) kept."""
    fields = fields_of(msgspec.convert(row["definition"], ScheduleDefinition))
    paused = row["state"] == "paused"
    return FileEntry(
        **msgspec.structs.asdict(fields),
        paused=True if paused else None,
        paused_reason=row.get("paused_reason", "") if paused else "",
    )


def _meta(name: str, actor: str, reason: str) -> dict[str, Any]:
    return {
        "name": name,
        "command_id": ids.new_id(),
        "at": datetime.now(UTC),
        "actor": actor,
        "reason": reason,
    }


def _print_plan(title: str, steps: list[Step], status: list[str] | None = None) -> None:
    rows = [[s.action, s.name, s.detail] for s in steps]
    if status is None:
        table(title, ["action", "schedule", "change"], rows)
    else:
        table(
            title,
            ["status", "action", "schedule", "change"],
            ([st, *r] for st, r in zip(status, rows, strict=True)),
        )


def _notes(the_plan: Plan) -> None:
    for name, why in the_plan.skipped:
        err_console.print(f"skipped {name}: {why}", highlight=False)
    for name, why in the_plan.kept:
        err_console.print(f"kept {name}: {why}", highlight=False)


def _vet(
    the_plan: Plan, commands: list[AnyCommand], live: dict[str, Any], *, yes: bool, dry_run: bool
) -> None:
    """Refuse the whole plan (nothing sent) if prune needs --yes or the scheduler would refuse a step."""
    title = "plan (dry run)" if dry_run else "plan (not applied)"
    refusal = None if yes else prune_refusal(the_plan.steps, len(live))
    problems = rejections(zip(the_plan.steps, commands, strict=True), live)
    if refusal and dry_run and not problems:
        err_console.print(f"note: {refusal.removesuffix('; nothing was changed')}", highlight=False)
    elif refusal or problems:
        _print_plan(title, the_plan.steps)
        if refusal:
            raise InvalidInput(refusal)
        raise InvalidInput(
            f"the scheduler would refuse {len(problems)} step(s), nothing was changed: "
            + "; ".join(problems)
        )


async def _carry_out(nc: Any, steps: list[Step], commands: list[AnyCommand]) -> None:
    """Send the commands in order; if one fails, show exactly what was and was not applied."""
    for i, (step, command) in enumerate(zip(steps, commands, strict=True)):
        try:
            await send_command(nc, command)
        except JetcronError as err:
            status = ["applied"] * i + ["FAILED"] + ["not applied"] * (len(steps) - i - 1)
            _print_plan("apply stopped", steps, status)
            message = (
                f"{step.action} {step.name} failed: {err}; {i} of {len(steps)} step(s) were "
                f"applied, {len(steps) - i - 1} after it were not (apply again to finish)"
            )
            raise (InvalidInput if isinstance(err, InvalidInput) else InfrastructureError)(
                message
            ) from None
    _print_plan("applied", steps)


async def _put_secrets(nc: Any, desired: Mapping[str, Any]) -> None:
    """Every @FILE secret of the files into the secrets bucket (puts of unchanged values too)."""
    for d in desired.values():
        await secrets.store(nc, d.definition.target, d.secret_values)


@handle_errors
def apply(
    file: Path = typer.Option(
        ...,
        "--file",
        "-f",
        help="A .toml/.json file, or a directory of them (refused whole if it holds a "
        "definition in another format, e.g. .yaml).",
    ),
    prune: bool = typer.Option(
        False, "--prune", help="Delete live schedules that the files do not define."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Let --prune delete all, or more than half (and over 3)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan, change nothing."),
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
    reason: str = ReasonOpt,
) -> None:
    """Make the live schedules what the files say: a field left out takes its default.

    The whole plan is checked first (nothing changes if any step would be refused); schedules
    with no fire left are reported and skipped; a breaker pause stays unless a file says
    `paused = false`.
    """
    from jetcron.cli import calendar_files as cf

    desired = load_desired(file)
    desired_cals = cf.load_calendars(file)
    who, why = actor or default_actor(), reason or f"apply {file}"

    async def go(nc: Any) -> None:
        rows = await query(nc, "schedules", {})
        live = {r["name"]: state_of(r) for r in rows}
        cal_rows = await query(nc, "calendars", {})
        known = {r["name"] for r in cal_rows} | set(desired_cals)
        if (unknown := cf.unknown_references(desired, known)) is not None:
            raise InvalidInput(f"{unknown}; nothing was changed")
        cal_steps = cf.calendar_steps(desired_cals, cal_rows)
        the_plan = plan(desired, live, datetime.now(UTC), prune=prune)
        _notes(the_plan)
        if not the_plan.steps and not cal_steps:
            # why: a secret's value is not in the definition, so a rotation (the @FILE changed)
            # plans nothing; it is put again all the same (operators cannot read it to compare)
            put = sum(len(d.secret_values) for d in desired.values())
            if put and not dry_run:
                await _put_secrets(nc, desired)
            again = f"; {put} secret(s) {'would be ' if dry_run else ''}put again" if put else ""
            console.print(f"up to date: nothing to change{again}", highlight=False)
            return
        commands = [command_of(s, _meta(s.name, who, why)) for s in the_plan.steps]
        _vet(the_plan, commands, live, yes=yes, dry_run=dry_run)
        if cal_steps:
            table(
                "calendars" + (" (dry run)" if dry_run else ""),
                ["action", "calendar", "change"],
                ([s.action, s.name, s.detail] for s in cal_steps),
            )
        if dry_run:
            if the_plan.steps:
                _print_plan("plan (dry run)", the_plan.steps)
            else:  # why: only calendars change; an empty table read as a broken plan
                console.print("schedules: up to date (dry run)", highlight=False)
            return
        await _put_secrets(nc, desired)  # why: before the schedules that name them
        for step in cal_steps:  # why: first, so the schedules' references resolve
            await send_command(nc, step.command(_meta(step.name, who, why)))
        if the_plan.steps:
            await _carry_out(nc, the_plan.steps, commands)

    run(with_nats(server, go))


@handle_errors
def export(
    names: list[str] | None = typer.Argument(None, help="Only these schedules (default all)."),
    server: str = ServerOpt,
) -> None:
    """Print schedules as JSON in the format `jetcron apply` reads (defaults left out)."""
    rows = run(with_nats(server, lambda nc: query(nc, "schedules", {})))
    wanted = set(names or [])
    missing = wanted - {r["name"] for r in rows}
    if missing:
        raise InvalidInput(f"no such schedule: {', '.join(sorted(missing))}")
    entries = {
        r["name"]: entry_of(r)
        for r in sorted(rows, key=lambda r: r["name"])
        if not wanted or r["name"] in wanted
    }
    from jetcron.cli.calendar_files import exported

    used = {c for e in entries.values() for c in [*e.exclude, *e.only_within]}
    cal_rows = run(with_nats(server, lambda nc: query(nc, "calendars", {}))) if used else []
    calendars = exported(cal_rows, used)
    doc = {"calendars": calendars, "schedules": entries} if calendars else {"schedules": entries}
    text = msgspec.json.format(msgspec.json.encode(doc), indent=2)
    sys.stdout.write(text.decode() + "\n")
