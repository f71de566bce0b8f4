"""`jetcron apply` and `jetcron export`: schedules as files (JSON or TOML) kept in git."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import typer

from jetcron import ids
from jetcron.cli.common import (
    ActorOpt,
    ReasonOpt,
    ServerOpt,
    console,
    default_actor,
    handle_errors,
    run,
    table,
    with_nats,
)
from jetcron.client import query, send_command
from jetcron.domain.commands import AnyCommand, CreateSchedule, DeleteSchedule, UpdateSchedule
from jetcron.domain.definition import DefinitionPatch, ScheduleDefinition
from jetcron.domain.errors import CommandRejected
from jetcron.domain.validation import validate_definition, validate_name
from jetcron.errors import InvalidInput


class ScheduleFile(msgspec.Struct, forbid_unknown_fields=True):
    """A file of schedule definitions: {"schedules": {name: definition}}."""

    schedules: dict[str, ScheduleDefinition] = {}


def _strict(raw: Any, where: str) -> None:
    """Unknown keys are typos in files (events tolerate them; operators' files should not)."""
    from jetcron.domain.definition import CatchUp, Conditions, Job, RetryPolicy

    nested = {"job": Job, "retry": RetryPolicy, "catchup": CatchUp, "conditions": Conditions}
    for name, body in (raw.get("schedules") or {}).items():
        if not isinstance(body, dict):
            continue
        for key, value in body.items():
            if key not in ScheduleDefinition.__struct_fields__:
                raise InvalidInput(f"{where}: schedules.{name}: unknown field {key!r}")
            sub = nested.get(key)
            if sub is not None and isinstance(value, dict):
                for k in value:
                    if k not in sub.__struct_fields__:
                        raise InvalidInput(f"{where}: schedules.{name}.{key}: unknown field {k!r}")


def load_definitions(path: Path) -> dict[str, ScheduleDefinition]:
    """Every definition in a file or a directory of *.json / *.toml files, validated."""
    files = (
        sorted(p for p in path.rglob("*") if p.suffix in (".json", ".toml"))
        if path.is_dir()
        else [path]
    )
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or directory")
    out: dict[str, ScheduleDefinition] = {}
    for file in files:
        for name, definition in _load_file(file).items():
            if name in out:
                raise InvalidInput(f"{file}: schedule {name!r} is defined twice")
            out[name] = definition
    return out


def _load_file(file: Path) -> dict[str, ScheduleDefinition]:
    data = file.read_bytes()
    decode = msgspec.toml.decode if file.suffix == ".toml" else msgspec.json.decode
    try:
        raw = decode(data)
        if not isinstance(raw, dict):
            raise InvalidInput(f"{file}: expected a table/object with a 'schedules' key")
        _strict(raw, str(file))
    except msgspec.DecodeError as err:
        raise InvalidInput(f"{file}: {err}") from err
    schedules = raw.get("schedules") or {}
    if not isinstance(schedules, dict):
        raise InvalidInput(f"{file}: 'schedules' must be a table/object of name -> definition")
    return {name: _definition(file, name, body) for name, body in schedules.items()}


def _definition(file: Path, name: str, body: Any) -> ScheduleDefinition:
    try:
        validate_name(name)
        return validate_definition(msgspec.convert(body, ScheduleDefinition, strict=False))
    except msgspec.ValidationError as err:
        raise InvalidInput(f"{file}: schedules.{name}: {err}") from err
    except CommandRejected as err:
        raise InvalidInput(f"{file}: schedules.{name}: {err}") from err


def plan(
    desired: dict[str, ScheduleDefinition], current: dict[str, ScheduleDefinition], prune: bool
) -> list[tuple[str, str, ScheduleDefinition | None]]:
    """(action, name, definition) to go from current to desired; pure."""
    steps: list[tuple[str, str, ScheduleDefinition | None]] = []
    for name, d in sorted(desired.items()):
        if name not in current:
            steps.append(("create", name, d))
        elif current[name] != d:
            steps.append(("update", name, d))
    if prune:
        steps += [("delete", name, None) for name in sorted(set(current) - set(desired))]
    return steps


def _command(
    action: str, name: str, d: ScheduleDefinition | None, actor: str, reason: str
) -> AnyCommand:
    meta: dict[str, Any] = {
        "name": name,
        "command_id": ids.new_id(),
        "at": datetime.now(UTC),
        "actor": actor,
        "reason": reason,
    }
    if action == "create":
        assert d is not None
        return CreateSchedule(**meta, definition=d)
    if action == "update":
        assert d is not None
        patch = msgspec.convert(msgspec.to_builtins(d), DefinitionPatch)
        return UpdateSchedule(**meta, patch=patch)
    return DeleteSchedule(**meta)


@handle_errors
def apply(
    file: Path = typer.Option(..., "--file", "-f", help="A JSON/TOML file or a directory of them."),
    prune: bool = typer.Option(
        False, "--prune", help="Delete live schedules that the files do not define."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan, change nothing."),
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
    reason: str = ReasonOpt,
) -> None:
    """Reconcile schedule definitions from files into the live system."""
    desired = load_definitions(file)

    async def go(nc: Any) -> list[tuple[str, str, ScheduleDefinition | None]]:
        rows = await query(nc, "schedules", {})
        current = {r["name"]: msgspec.convert(r["definition"], ScheduleDefinition) for r in rows}
        steps = plan(desired, current, prune)
        if not dry_run:
            for action, name, d in steps:
                await send_command(
                    nc,
                    _command(action, name, d, actor or default_actor(), reason or f"apply {file}"),
                )
        return steps

    steps = run(with_nats(server, go))
    if not steps:
        console.print("up to date: nothing to change")
        return
    table(
        "plan (dry run)" if dry_run else "applied",
        ["action", "schedule"],
        ((a, n) for a, n, _ in steps),
    )


@handle_errors
def export(
    names: list[str] | None = typer.Argument(None, help="Only these schedules (default all)."),
    server: str = ServerOpt,
) -> None:
    """Print current definitions as JSON, in the format `jetcron apply` reads."""
    rows = run(with_nats(server, lambda nc: query(nc, "schedules", {})))
    wanted = set(names or [])
    missing = wanted - {r["name"] for r in rows}
    if missing:
        raise InvalidInput(f"no such schedule: {', '.join(sorted(missing))}")
    schedules = {
        r["name"]: msgspec.convert(r["definition"], ScheduleDefinition)
        for r in rows
        if not wanted or r["name"] in wanted
    }
    sys.stdout.write(
        msgspec.json.format(msgspec.json.encode(ScheduleFile(schedules)), indent=2).decode() + "\n"
    )
