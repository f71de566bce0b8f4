"""`jetcron schedule ...`: create, change and inspect schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import typer

from jetcron.cli import secrets
from jetcron.cli.backfill import backfill
from jetcron.cli.common import (
    ActorOpt,
    JsonOpt,
    ReasonOpt,
    ServerOpt,
    command_meta,
    console,
    err_console,
    fmt_time,
    handle_errors,
    print_json,
    run,
    with_nats,
)
from jetcron.cli.dashdash import DashDashCommand, refuse_stray
from jetcron.cli.executor_notes import (
    note_if_nobody_serves,
    warn_if_nobody_offers,
    warn_if_shell_refused,
)
from jetcron.cli.options import definition_for_add, patch_for_update, with_definition_options
from jetcron.cli.schedule_views import list_, next_, show
from jetcron.cli.sending import query, send, send_command
from jetcron.cli.timing import note_jitter, note_naive, note_zone
from jetcron.cli.whatif import NextOpt, what_if_option
from jetcron.domain.commands import (
    AnyCommand,
    CommandReply,
    CreateSchedule,
    DeleteSchedule,
    PauseSchedule,
    ResumeSchedule,
    SkipFire,
    TriggerSchedule,
    UnskipFire,
    UpdateSchedule,
)
from jetcron.domain.definition import DefinitionPatch, ScheduleDefinition
from jetcron.domain.validation import validate_definition, validate_name
from jetcron.errors import InvalidInput

app = typer.Typer(help="Create, change and inspect schedules.", no_args_is_help=True)


@app.command("add")
@handle_errors
@with_definition_options()
def add(
    name: str = typer.Argument(..., help="Schedule name: letters, digits, '_', '.', '-'."),
    spec: str = typer.Argument(
        ..., help="Cron (5 fields), @hourly..., '@every 15m', '@at 2026-12-24T18:00'."
    ),
    command: list[str] | None = typer.Argument(
        None, help="The command to run (put `--` before it if it has options of its own)."
    ),
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
    reason: str = ReasonOpt,
    as_json: bool = JsonOpt,
    **options: Any,
) -> None:
    """Create a schedule: `jetcron schedule add backup "0 3 * * *" --tz Europe/Berlin -- /usr/local/bin/backup`."""
    validate_name(name)
    unchecked = secrets.referred(options)
    values = secrets.take_files(name, options)
    definition = validate_definition(definition_for_add(spec, command, options))
    cmd = CreateSchedule(**command_meta(name, actor, reason), definition=definition)
    if values:
        # why: the secret is put before the command is decided; an add refused because the
        # name is taken must not overwrite that schedule's secret of the same name
        _refuse_if_exists(server, name)
    _store_secrets(server, definition.target, values)
    send(server, cmd, as_json, f"created schedule {name!r}")
    secrets.note_unchecked(unchecked)
    from jetcron.cli import conflicts  # why: its spec import would slow every schedule command

    conflicts.warn_new(name, {}, conflicts.involving(server, name))
    if definition.job.action is not None and not as_json:
        warn_if_nobody_offers(
            server, definition.job.action, definition.target, definition.job.params
        )
    if definition.job.shell is not None and not as_json:
        warn_if_shell_refused(server, definition.target)
    if definition.job.action is None and definition.job.shell is None and not as_json:
        note_if_nobody_serves(server, definition.target)
    note_zone(definition.tz)
    note_jitter(definition)


def _store_secrets(server: str, target: str, values: dict[str, str]) -> None:
    """Put --secret-env @FILE values into the secrets bucket before the command names them."""
    if values:
        run(with_nats(server, lambda nc: secrets.store(nc, target, values)))


def _refuse_if_exists(server: str, name: str) -> None:
    from jetcron.domain.errors import ScheduleNotFound

    try:
        run(with_nats(server, lambda nc: query(nc, "schedule", {"name": name})))
    except ScheduleNotFound:
        return
    raise InvalidInput(
        f"schedule {name!r} already exists (use `jetcron schedule update` to change it)"
    )


def _current_target(server: str, name: str) -> str:
    return _current(server, name).target


def _patched(d: ScheduleDefinition, patch: DefinitionPatch) -> ScheduleDefinition:
    """`d` with the patch's spec, zone and jitter (what the jitter note needs; the view read
    after the update may not hold it yet)."""
    given = {"spec": patch.spec, "tz": patch.tz, "jitter_s": patch.jitter_s}
    return msgspec.structs.replace(
        d, **{k: v for k, v in given.items() if isinstance(v, str | float | int)}
    )


def _current(server: str, name: str) -> ScheduleDefinition:
    return msgspec.convert(_row(server, name)["definition"], ScheduleDefinition)


def _skips_row(server: str, name: str) -> dict[str, Any] | None:
    """The schedule's row for its planned skips; None if the views do not hold it (yet: a
    schedule added a moment ago; the update itself then says whether the name exists)."""
    try:
        return _row(server, name)
    except InvalidInput:
        return None


def _row(server: str, name: str) -> dict[str, Any]:
    row: dict[str, Any] = run(with_nats(server, lambda nc: query(nc, "schedule", {"name": name})))
    return row


@app.command("update", cls=DashDashCommand)
@handle_errors
@with_definition_options(clears=True)
def update(
    name: str = typer.Argument(...),
    command: list[str] | None = typer.Argument(
        None, metavar="-- CMD ARGS", help="A new command to run, after `--`.", show_default=False
    ),
    spec: str | None = typer.Option(None, "--spec", help="A new spec."),
    what_if: bool = what_if_option(
        "which past fires would have moved, appeared or vanished, and the next fires before "
        "and after."
    ),
    window: str | None = typer.Option(
        None, "--window", metavar="DURATION", help="With --what-if: how far back. Default: 30d."
    ),
    n: int = NextOpt,
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
    reason: str = ReasonOpt,
    as_json: bool = JsonOpt,
    **options: Any,
) -> None:
    """Change the given fields of a schedule; every other field keeps its value.

    A new command (after `--`), --shell or --action replaces the job's program and keeps its
    --env, --cwd and --param (params only while it is an action); --env, --param and --tag
    replace the whole map or list.
    """
    refuse_stray(command, _reset_hint(command, options))
    unchecked = secrets.referred(options)
    values = secrets.take_files(name, options)
    patch = _patch(name, spec, command, options)
    if what_if:
        from jetcron.cli import whatif

        if isinstance(patch.tz, str):
            note_zone(patch.tz)  # why: --what-if is where a zone is tried out
        whatif.show(server, name, patch, window or "30d", n, as_json)
        return
    if window is not None:
        raise InvalidInput("--window goes with --what-if (this update would be sent)")
    from jetcron.cli import conflicts

    before = conflicts.involving(server, name)
    # why: a new spec or zone may move a fire an operator skipped (read before: the skips)
    moved = isinstance(patch.spec, str) or isinstance(patch.tz, str)
    row = _skips_row(server, name) if moved and not as_json else None
    if values:
        target = patch.target if isinstance(patch.target, str) else _current_target(server, name)
        _store_secrets(server, target, values)
    cmd = UpdateSchedule(**command_meta(name, actor, reason), patch=patch)
    send(server, cmd, as_json, f"updated schedule {name!r}", _unchanged(values))
    secrets.note_unchecked(unchecked)
    conflicts.warn_new(name, before, conflicts.involving(server, name))
    if isinstance(patch.target, str) and not as_json:
        note_if_nobody_serves(server, patch.target)
    if isinstance(patch.tz, str):
        note_zone(patch.tz)
    if not as_json and any(isinstance(v, str | float) for v in (patch.jitter_s, patch.spec)):
        note_jitter(_patched(_current(server, name), patch))
    if row is not None:
        _note_orphaned_skips(row, patch)


def _note_orphaned_skips(row: dict[str, Any], patch: DefinitionPatch) -> None:
    """A `note:` for each planned skip that the update moved its fire away from."""
    from jetcron.projections.skips import orphaned_skips

    after = _patched(msgspec.convert(row["definition"], ScheduleDefinition), patch)
    for note in orphaned_skips(after, row.get("skips") or {}, datetime.now(UTC)):
        err_console.print(f"note: {note}", highlight=False)


def _reset_hint(command: list[str] | None, options: dict[str, Any]) -> str:
    """For a stray field name beside --reset: how several fields are reset at once."""
    from jetcron.domain.fields import FIELDS

    if not command or not options.get("reset"):
        return ""
    if (word := command[0].replace("-", "_")) not in FIELDS and word != "conditions":
        return ""
    return f" (several fields: --reset {','.join([*options['reset'], command[0]])})"


def _patch(
    name: str, spec: str | None, command: list[str] | None, options: dict[str, Any]
) -> DefinitionPatch:
    """The fields `schedule update` changes; InvalidInput if it names none."""
    patch = patch_for_update(spec, command, options)
    if patch == DefinitionPatch():
        # why: an update that names no field is a slip (a forgotten option), not a no-op
        raise InvalidInput(
            f"schedule update {name}: nothing given to change; name a field "
            "(--spec, --timeout, `-- CMD`, …: see `jetcron schedule update --help`)"
        )
    return patch


def _unchanged(values: dict[str, str]) -> str:
    """What an update that changed no field says (given secrets were still put again)."""
    # why: a secret's value is not in the definition: a rotation changes no field
    if values:
        return f"definition unchanged; secret(s) {', '.join(sorted(values))} put again"
    return "nothing to change"


def _lifecycle(verb: str, command: type[AnyCommand], done: str, doc: str) -> None:
    """Register `schedule <verb> NAME`: one command, one event, same options."""

    def lifecycle(
        name: str,
        server: str = ServerOpt,
        actor: str | None = ActorOpt,
        reason: str = ReasonOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        send(
            server,
            command(**command_meta(name, actor, reason)),
            as_json,
            f"{done} schedule {name!r}",
        )

    lifecycle.__doc__ = doc
    app.command(verb)(handle_errors(lifecycle))


_lifecycle("pause", PauseSchedule, "paused", "Stop firing a schedule until it is resumed.")


_lifecycle(
    "resume",
    ResumeSchedule,
    "resumed",
    "Resume a paused schedule (fires missed while paused are not run).",
)


_lifecycle(
    "delete",
    DeleteSchedule,
    "deleted",
    "Delete a schedule: its running jobs are cancelled (SIGTERM, then SIGKILL after the grace);"
    " its history stays in the log and the name can be reused.",
)


@app.command("trigger")
@handle_errors
def trigger(
    name: str,
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
    reason: str = ReasonOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run a schedule now, once (also while paused; it stays paused)."""
    cmd = TriggerSchedule(**command_meta(name, actor, reason))
    reply: CommandReply = run(with_nats(server, lambda nc: send_command(nc, cmd)))
    if as_json:
        print_json(reply)
        return
    event = reply.events[0].envelope.event
    from jetcron.cli.text import short_id

    run_id = short_id(getattr(event, "run_id", "?"))
    console.print(
        f"triggered {name!r}: run {run_id} (`jetcron runs show {run_id}`)", highlight=False
    )


app.command("list")(list_)
app.command("show")(show)
app.command("next")(next_)


_TIME_HELP = (
    "A fire time: ISO with Z or an offset, a wall time in the schedule's zone "
    "(2026-12-24T03:00), or HH:MM for the next one."
)


def _occurrence(verb: str, command: type[SkipFire | UnskipFire], done: str, doc: str) -> None:
    """Register `schedule <verb> NAME TIME`: one coming fire, checked before it is sent."""

    def occurrence(
        name: str,
        when: str = typer.Argument(..., metavar="TIME", help=_TIME_HELP),
        server: str = ServerOpt,
        actor: str | None = ActorOpt,
        reason: str = ReasonOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        fire, row, notes = _coming_fire(server, name, when)
        note_naive(when, row["definition"].get("tz", "UTC"), "the schedule's zone")
        for note in notes:
            err_console.print(f"note: {note}", highlight=False)
        cmd = command(**command_meta(name, actor, reason), fire_time=fire)
        send(
            server, cmd, as_json, f"{name}: the fire at {fmt_time(fire)} {done}", _as_is(row, fire)
        )

    occurrence.__doc__ = doc
    app.command(verb)(handle_errors(occurrence))


_occurrence(
    "skip", SkipFire, "will be skipped", "Skip one coming fire (recorded as skipped, who and why)."
)


_occurrence("unskip", UnskipFire, "will run", "Undo a skip: the fire runs after all.")


def _coming_fire(server: str, name: str, when: str) -> tuple[datetime, dict[str, Any], list[str]]:
    from jetcron.projections.skips import coming_fire_noted

    row: dict[str, Any] = run(with_nats(server, lambda nc: query(nc, "schedule", {"name": name})))
    fire, notes = coming_fire_noted(row, when, datetime.now(UTC))
    return fire, row, notes


def _as_is(row: dict[str, Any], fire: datetime) -> str:
    """What `skip`/`unskip` say when the fire is already as asked: who skipped it and why (a
    second skip's reason is not recorded: `unskip`, then skip again, to change it)."""
    from jetcron.clock import iso_z

    skipped = (row.get("skips") or {}).get(iso_z(fire))
    state = f"already {skipped}" if skipped else "not skipped"
    return f"nothing to change: the fire at {fmt_time(fire)} is {state}"


app.command("backfill")(backfill)
