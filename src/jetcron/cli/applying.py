"""`jetcron apply` and `jetcron export`: the live schedules, calendars and notification sinks
made what files say, and written out as such a file (the format: cli/files.py,
cli/calendar_files.py, cli/notify_files.py)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import typer

from jetcron import ids
from jetcron.cli import calendar_files as cf
from jetcron.cli import notify_files as nf
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
from jetcron.cli.files import entry_of, load_desired
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
from jetcron.cli.timing import note_jitter, note_zone
from jetcron.client import query, send_command
from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.commands import AnyCommand
from jetcron.domain.definition import SECRET_REF
from jetcron.errors import InfrastructureError, InvalidInput, JetcronError


class Wanted(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the files define."""

    schedules: dict[str, Desired]
    calendars: dict[str, CalendarDefinition]
    sinks: dict[str, nf.WantedSink] | None
    """None: no file has a notifications table (the live sinks are left alone)."""


class Sinks(msgspec.Struct, frozen=True, kw_only=True):
    """The live sinks and the steps to the files' ones."""

    live: dict[str, Any]
    steps: list[nf.SinkStep]


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


def _print_sinks(title: str, steps: list[nf.SinkStep]) -> None:
    table(
        title, ["action", "notification", "change"], ([s.action, s.name, s.detail] for s in steps)
    )


def _notes(the_plan: Plan, cal_steps: list[cf.CalendarStep]) -> None:
    for step in the_plan.steps:
        if step.definition is not None:
            note_zone(step.definition.tz, f"schedule {step.name}")
            note_jitter(step.definition, f"schedule {step.name}")
    for cal in cal_steps:
        note_zone(cal.definition.tz, f"calendar {cal.name}")
    for name, why in the_plan.skipped:
        err_console.print(f"skipped {name}: {why}", highlight=False)
    for name, why in the_plan.kept:
        err_console.print(f"kept {name}: {why}", highlight=False)


def _vet(
    the_plan: Plan, commands: list[AnyCommand], live: dict[str, Any], *, yes: bool, dry_run: bool
) -> str | None:
    """Refuse the whole plan (nothing sent) if prune needs --yes or the scheduler would refuse a
    step; a dry run gets the prune refusal back, to print its plan before refusing."""
    title = "plan (dry run)" if dry_run else "plan (not applied)"
    refusal = None if yes else prune_refusal(the_plan.steps, len(live))
    problems = rejections(zip(the_plan.steps, commands, strict=True), live)
    if refusal and dry_run and not problems:
        return refusal
    if refusal or problems:
        _print_plan(title, the_plan.steps)
        if refusal:
            raise InvalidInput(refusal)
        raise InvalidInput(
            f"the scheduler would refuse {len(problems)} step(s), nothing was changed: "
            + "; ".join(problems)
        )
    return None


async def _vet_sinks(
    nc: Any, wanted: Wanted, sinks: Sinks, schedules: set[str], *, yes: bool, dry_run: bool
) -> str | None:
    """Refuse the whole apply (nothing sent) for a sink naming an unknown schedule or a signing
    key the bucket has not got, one the scheduler would refuse, or a prune needing --yes (a
    dry run gets that one back, as `_vet`)."""
    problem = nf.unknown_schedule(wanted.sinks, schedules) or await nf.absent_keys(nc, wanted.sinks)
    if problem:
        raise InvalidInput(f"{problem}; nothing was changed")
    refused = nf.rejections(sinks.steps, sinks.live, _meta("", "", ""))
    if refused:
        raise InvalidInput(
            f"the scheduler would refuse {len(refused)} step(s), nothing was changed: "
            + "; ".join(refused)
        )
    refusal = None if yes else prune_refusal(sinks.steps, len(sinks.live), "notification sinks")
    if refusal and not dry_run:
        _print_sinks("notifications (not applied)", sinks.steps)
        raise InvalidInput(refusal)
    return refusal


def _refused_dry_run(refusals: list[str | None]) -> None:
    """A dry run exits 2 when the real run would refuse (a CI check passes only what deploys)."""
    found = [r.removesuffix("; nothing was changed") for r in refusals if r]
    if found:
        raise InvalidInput(
            f"{'; '.join(found)}: the real run refuses this plan (nothing was changed)"
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


async def _send_sinks(nc: Any, steps: list[nf.SinkStep], who: str, why: str) -> None:
    """Send the sink commands in order (after the schedules: their rules name them)."""
    for i, step in enumerate(steps):
        try:
            await send_command(nc, step.command(_meta(step.name, who, why)))
        except JetcronError as err:
            message = (
                f"{step.action} notification {step.name} failed: {err}; {i} of {len(steps)} "
                "notification step(s) were applied before it (apply again to finish)"
            )
            raise (InvalidInput if isinstance(err, InvalidInput) else InfrastructureError)(
                message
            ) from None
    _print_sinks("notifications applied", steps)


async def _put_secrets(nc: Any, desired: Mapping[str, Any], sinks: Mapping[str, Any]) -> None:
    """Every @FILE secret of the files into its bucket (puts of unchanged values too)."""
    from jetcron.log.secrets import put_hook_secret

    for d in desired.values():
        await secrets.store(nc, d.definition.target, d.secret_values)
    for name, sink in sinks.items():
        if sink.secret_value:
            await put_hook_secret(nc, nf.file_key(name), sink.secret_value)


async def _up_to_date(nc: Any, wanted: Wanted, *, dry_run: bool) -> None:
    """Nothing to change: say so, and put the files' secrets again.

    why: a secret's value is not in the definition, so a rotation (the @FILE changed) plans
    nothing; it is put again all the same (operators cannot read it to compare)
    """
    jobs = sum(len(d.secret_values) for d in wanted.schedules.values())
    put = jobs + sum(1 for s in (wanted.sinks or {}).values() if s.secret_value)
    if put and not dry_run:
        await _put_secrets(nc, wanted.schedules, wanted.sinks or {})
    again = f"; {put} secret(s) {'would be ' if dry_run else ''}put again" if put else ""
    console.print(f"up to date: nothing to change{again}", highlight=False)


@handle_errors
def apply(
    path: Path | None = typer.Argument(
        None, show_default=False, help="The same as --file (`jetcron apply defs.toml`)."
    ),
    file: Path | None = typer.Option(
        None,
        "--file",
        "-f",
        help="A .toml/.json file, or a directory of them (refused whole if it holds a "
        "definition in another format, e.g. .yaml).",
    ),
    prune: bool = typer.Option(
        False,
        "--prune",
        help="Delete live schedules that the files do not define (and notification sinks, "
        "if the files have a notifications table).",
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Let --prune delete all, or more than half (and over 3)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan, change nothing."),
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
    reason: str = ReasonOpt,
) -> None:
    """Make the live schedules, calendars and notification sinks what the files say.

    A field left out takes its default. The whole plan is checked first (nothing changes if any step would be refused); schedules
    with no fire left are reported and skipped; a breaker pause stays unless a file says
    `paused = false`.
    """
    file = _one_path(path, file)
    wanted = Wanted(
        schedules=load_desired(file),
        calendars=cf.load_calendars(file),
        sinks=nf.load_sinks(file),
    )
    who, why = actor or default_actor(), reason or f"apply {file}"
    if prune and wanted.sinks is None:
        err_console.print(
            "note: the files have no notifications table: the notification sinks are left alone",
            highlight=False,
        )

    async def go(nc: Any) -> None:
        await _apply(nc, wanted, prune=prune, yes=yes, dry_run=dry_run, who=who, why=why)

    run(with_nats(server, go))


def _one_path(path: Path | None, file: Path | None) -> Path:
    """The file or directory to apply, given as an argument or with -f (not two different)."""
    if path is not None and file is not None and path != file:
        raise InvalidInput(f"two files given ({path} and -f {file}): apply one file or directory")
    chosen = path or file
    if chosen is None:
        raise InvalidInput("missing the file: `jetcron apply -f PATH` (or `jetcron apply PATH`)")
    return chosen


async def _apply(
    nc: Any, wanted: Wanted, *, prune: bool, yes: bool, dry_run: bool, who: str, why: str
) -> None:
    rows = await query(nc, "schedules", {})
    live = {r["name"]: state_of(r) for r in rows}
    cal_rows = await query(nc, "calendars", {})
    known = {r["name"] for r in cal_rows} | set(wanted.calendars)
    if (unknown := cf.unknown_references(wanted.schedules, known)) is not None:
        raise InvalidInput(f"{unknown}; nothing was changed")
    cal_steps = cf.calendar_steps(wanted.calendars, cal_rows)
    the_plan = plan(wanted.schedules, live, datetime.now(UTC), prune=prune)
    sinks_live = await nf.live_sinks(nc) if wanted.sinks is not None else {}
    sinks = Sinks(live=sinks_live, steps=nf.steps(wanted.sinks, sinks_live, prune=prune))
    schedules = set(wanted.schedules) | (set() if prune else set(live))
    refusals = [await _vet_sinks(nc, wanted, sinks, schedules, yes=yes, dry_run=dry_run)]
    _notes(the_plan, cal_steps)
    if not the_plan.steps and not cal_steps and not sinks.steps:
        await _up_to_date(nc, wanted, dry_run=dry_run)
        return
    commands = [command_of(s, _meta(s.name, who, why)) for s in the_plan.steps]
    refusals.append(_vet(the_plan, commands, live, yes=yes, dry_run=dry_run))
    if cal_steps:
        table(
            "calendars" + (" (dry run)" if dry_run else ""),
            ["action", "calendar", "change"],
            ([s.action, s.name, s.detail] for s in cal_steps),
        )
    if dry_run:
        _dry_run(the_plan, sinks)
        _refused_dry_run(refusals)
        return
    await _put_secrets(nc, wanted.schedules, wanted.sinks or {})  # why: before what names them
    for step in cal_steps:  # why: first, so the schedules' references resolve
        await send_command(nc, step.command(_meta(step.name, who, why)))
    if the_plan.steps:
        await _carry_out(nc, the_plan.steps, commands)
    if sinks.steps:
        await _send_sinks(nc, sinks.steps, who, why)


def _dry_run(the_plan: Plan, sinks: Sinks) -> None:
    if the_plan.steps:
        _print_plan("plan (dry run)", the_plan.steps)
    else:  # why: only calendars or sinks change; an empty table read as a broken plan
        console.print("schedules: up to date (dry run)", highlight=False)
    if sinks.steps:
        _print_sinks("notifications (dry run)", sinks.steps)


@handle_errors
def export(
    names: list[str] | None = typer.Argument(
        None, help="Only these schedules (default all, and then the notification sinks too)."
    ),
    server: str = ServerOpt,
) -> None:
    """Print schedules, calendars and sinks as JSON in the format `jetcron apply` reads.

    Defaults are left out, the calendars are those the schedules use, and signing keys are
    references (`kv:KEY`)."""
    doc, sinks = run(with_nats(server, lambda nc: _exported(nc, names or [])))
    text = msgspec.json.format(msgspec.json.encode(doc), indent=2)
    sys.stdout.write(text.decode() + "\n")
    keys = [s.sink.secret for s in sinks.values() if s.sink.secret]
    if refs := sum(1 for k in keys if k.startswith(SECRET_REF)):
        err_console.print(
            f"note: {refs} webhook signing key(s) exported as references (kv:KEY) to this "
            "cluster's webhook secrets bucket; for another cluster give each as "
            'secret = "@FILE"',
            highlight=False,
        )
    if inline := len(keys) - refs:
        # why: a log from before the bucket holds the key itself, which a file never shows
        err_console.print(
            f"note: {inline} webhook(s) sign with a key kept in the log itself (written before "
            'the secrets bucket): exported unsigned; give each as secret = "@FILE"',
            highlight=False,
        )


async def _exported(nc: Any, names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document `export` prints, and the live sinks in it."""
    rows = await query(nc, "schedules", {})
    wanted = set(names)
    missing = wanted - {r["name"] for r in rows}
    if missing:
        raise InvalidInput(f"no such schedule: {', '.join(sorted(missing))}")
    entries = {
        r["name"]: entry_of(r)
        for r in sorted(rows, key=lambda r: r["name"])
        if not wanted or r["name"] in wanted
    }
    used = {c for e in entries.values() for c in [*e.exclude, *e.only_within]}
    cal_rows = await query(nc, "calendars", {}) if used else []
    doc: dict[str, Any] = {}
    if calendars := cf.exported(cal_rows, used):
        doc["calendars"] = calendars
    doc["schedules"] = entries
    # why only for a whole export: a sink is not one schedule's, and a partial file is
    # not the whole desired state of the sinks
    sinks = {} if wanted else await nf.live_sinks(nc)
    if sinks:
        names_now = [r["name"] for r in rows]
        doc["notifications"] = {n: nf.entry_of(s, names_now) for n, s in sorted(sinks.items())}
    return doc, sinks
