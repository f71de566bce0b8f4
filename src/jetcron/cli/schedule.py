"""`jetcron schedule ...`: create, change and inspect schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
    count_option,
    err_console,
    fmt_time,
    handle_errors,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.cli.options import definition_for_add, patch_for_update, with_definition_options
from jetcron.cli.timing import fires_rows, note_zone, print_fires
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
from jetcron.domain.definition import DefinitionPatch
from jetcron.domain.events import ScheduleUpdated
from jetcron.domain.validation import validate_definition, validate_name
from jetcron.errors import InvalidInput


async def query(nc: Any, view: str, params: dict[str, Any]) -> Any:
    """jetcron.client.query, imported when a command runs (help stays free of nats)."""
    from jetcron import client

    return await client.query(nc, view, params)


async def send_command(nc: Any, command: AnyCommand) -> CommandReply:
    """jetcron.client.send_command, imported when a command runs."""
    from jetcron import client

    return await client.send_command(nc, command)


app = typer.Typer(help="Create, change and inspect schedules.", no_args_is_help=True)


def _send(
    server: str, command: AnyCommand, as_json: bool, done: str, unchanged: str = "nothing to change"
) -> None:
    reply: CommandReply = run(with_nats(server, lambda nc: send_command(nc, command)))
    if as_json:
        print_json(reply)
    elif not reply.events:
        console.print(f"{command.name}: {unchanged}", highlight=False)
    else:
        last = reply.events[-1]
        console.print(f"{done} (log seq {last.seq}){_stays(last.envelope.event)}", highlight=False)


def _stays(event: object) -> str:
    """A note when an update left a completed schedule completed (the decider's `reopens`)."""
    if not isinstance(event, ScheduleUpdated) or event.reopens:
        return ""
    return (
        "; it stays completed: the change gives it no fires again "
        "(a new spec, --start or --end, or a higher --max-runs would)"
    )


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
    values = secrets.take_files(name, options)
    definition = validate_definition(definition_for_add(spec, command, options))
    cmd = CreateSchedule(**command_meta(name, actor, reason), definition=definition)
    if values:
        # why: the secret is put before the command is decided; an add refused because the
        # name is taken must not overwrite that schedule's secret of the same name
        _refuse_if_exists(server, name)
    _store_secrets(server, definition.target, values)
    _send(server, cmd, as_json, f"created schedule {name!r}")
    from jetcron.cli import conflicts  # why: its spec import would slow every schedule command

    conflicts.warn_new(name, {}, conflicts.involving(server, name))
    if definition.job.action is not None and not as_json:
        _warn_if_nobody_offers(server, definition.job.action, definition.target)
    if definition.job.shell is not None and not as_json:
        _warn_if_shell_refused(server, definition.target)
    if definition.job.action is None and definition.job.shell is None and not as_json:
        _note_if_nobody_serves(server, definition.target)
    note_zone(definition.tz)


def _serving(server: str, target: str) -> list[Any] | None:
    """The executors online that serve `target` (None: the heartbeats could not be read)."""
    from jetcron.cli.views import _executors

    try:
        infos = _executors(server)
    except Exception:  # noqa: BLE001 - a warning is best effort; the schedule is created
        return None
    pool = target.removeprefix("all:")
    return [i for i in infos if pool in i.targets or pool in i.tags]


def _warn_if_shell_refused(server: str, target: str) -> None:
    """Say so when an executor of `target` would refuse a shell string; nothing when all allow it.

    why: the CLI cannot know executors it does not see: with none online the note is conditional.
    """
    serving = _serving(server, target)
    refusing = [i.name for i in serving or [] if i.allow_shell is False]
    if refusing:
        problem = (
            f"executor {', '.join(sorted(refusing))} of target {target!r} refuses shell strings"
            " (start it with --allow-shell: `jetcron up --allow-shell`, `jetcron executor"
            " --allow-shell`)"
        )
        err_console.print(f"warning: {problem}", highlight=False)
    elif not serving:
        err_console.print(
            f"note: no executor of target {target!r} is online; it will run shell strings only "
            "if started with --allow-shell",
            highlight=False,
        )


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
    row: dict[str, Any] = run(with_nats(server, lambda nc: query(nc, "schedule", {"name": name})))
    return str(row["definition"].get("target", "default"))


def _warn_if_nobody_offers(server: str, action: str, target: str) -> None:
    """Say so when no executor online for `target` offers `action` (it would fail at run time)."""
    serving = _serving(server, target)
    if serving is None:
        return
    if any(action in i.actions for i in serving):
        return
    if serving:
        problem = f"no executor of target {target!r} offers action {action!r}"
    else:
        problem = f"no executor online serves target {target!r} (its runs wait until one does)"
    err_console.print(f"warning: {problem}; see `jetcron actions`", highlight=False)


@app.command("update")
@handle_errors
@with_definition_options(clears=True)
def update(
    name: str = typer.Argument(...),
    command: list[str] | None = typer.Argument(None, help="A new command to run, after `--`."),
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
    values = secrets.take_files(name, options)
    patch = patch_for_update(spec, command, options)
    if patch == DefinitionPatch():
        # why: an update that names no field is a slip (a forgotten option), not a no-op
        raise InvalidInput(
            f"schedule update {name}: nothing given to change; name a field "
            "(--spec, --timeout, `-- CMD`, …: see `jetcron schedule update --help`)"
        )
    if what_if:
        from jetcron.cli import whatif

        whatif.show(server, name, patch, window or "30d", n, as_json)
        return
    if window is not None:
        raise InvalidInput("--window goes with --what-if (this update would be sent)")
    from jetcron.cli import conflicts

    before = conflicts.involving(server, name)
    if values:
        target = patch.target if isinstance(patch.target, str) else _current_target(server, name)
        _store_secrets(server, target, values)
    _send(
        server,
        UpdateSchedule(**command_meta(name, actor, reason), patch=patch),
        as_json,
        f"updated schedule {name!r}",
        # why: a secret's value is not in the definition: a rotation changes no field
        f"definition unchanged; secret(s) {', '.join(sorted(values))} put again"
        if values
        else "nothing to change",
    )
    conflicts.warn_new(name, before, conflicts.involving(server, name))
    if isinstance(patch.target, str) and not as_json:
        _note_if_nobody_serves(server, patch.target)
    if isinstance(patch.tz, str):
        note_zone(patch.tz)


def _note_if_nobody_serves(server: str, target: str) -> None:
    """Say so when no executor online serves `target`: its runs would wait (a typo'd target
    looks like an idle one until `health` says so)."""
    if _serving(server, target) == []:
        err_console.print(
            f"note: no executor online serves target {target!r} (its runs wait until one "
            "does; `jetcron executors` lists who is online)",
            highlight=False,
        )


def _lifecycle(verb: str, command: type[AnyCommand], done: str, doc: str) -> None:
    """Register `schedule <verb> NAME`: one command, one event, same options."""

    def lifecycle(
        name: str,
        server: str = ServerOpt,
        actor: str | None = ActorOpt,
        reason: str = ReasonOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        _send(
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


@app.command("list")
@handle_errors
def list_(
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
    all_: bool = typer.Option(False, "--all", "-a", help="Include completed schedules."),
) -> None:
    """All live schedules with their state and next fire."""
    rows: list[dict[str, Any]] = run(with_nats(server, lambda nc: query(nc, "schedules", {})))
    if not all_:
        rows = [r for r in rows if r["state"] != "completed"]
    if as_json:
        print_json(rows)
        return
    table(
        None,
        ["name", "spec", "tz", "state", "target", "next fire (UTC)", "last run", "runs"],
        (
            [
                r["name"],
                r["spec"],
                r["tz"],
                _state(r),
                r["target"],
                fmt_time(r["next_fire"]),
                f"{r.get('last_status') or '-'} {fmt_time(r.get('last_run_at')) if r.get('last_run_at') else ''}",
                r.get("runs_total", 0),
            ]
            for r in rows
        ),
    )


def _state(row: dict[str, Any]) -> str:
    if row["state"] == "paused" and row.get("paused_reason"):
        return f"paused ({row['paused_reason']})"
    return str(row["state"])


@app.command("show")
@handle_errors
def show(name: str, server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """One schedule: its definition, state, last 10 runs and next 10 fires."""
    row: dict[str, Any] = run(with_nats(server, lambda nc: query(nc, "schedule", {"name": name})))
    if as_json:
        print_json(row)
        return
    import msgspec
    from rich.markup import escape

    from jetcron.cli import text
    from jetcron.domain.definition import ScheduleDefinition
    from jetcron.domain.fields import fields_of

    d = row["definition"]
    if row.get("refused"):
        err_console.print(f"note: {text.clean(row['refused'])}", highlight=False, markup=False)
    state = escape(text.clean(_state(row)))  # why: a pause reason is free text, not markup
    console.print(
        f"[bold]{row['name']}[/]  {state}  v{row['version']}  id {row['schedule_id']}",
        highlight=False,
    )
    # why: the same fields, names and units as `export` and the options (defaults left out)
    fields = msgspec.to_builtins(fields_of(msgspec.convert(d, ScheduleDefinition)))
    lines = [(key, text.value(v, key)) for key, v in fields.items() if key != "name"]
    lines += [
        ("created", f"{text.utc(row.get('created_at'))} by {row.get('created_by')}"),
        ("updated", f"{text.utc(row.get('updated_at'))} by {row.get('updated_by')}"),
    ]
    width = max(len(k) for k, _ in lines)
    for label, value in lines:
        console.print(f"  {label:{width}}  {text.clean(value)}", highlight=False, markup=False)
    table(
        "last runs",
        ["run", "fired (UTC)", "status", "attempt", "executor", "took"],
        (
            [
                text.short_id(r["run_id"]),
                text.utc(r.get("fire_time")),
                r.get("status"),
                r.get("attempt", 1),
                r.get("executor", ""),
                text.duration(r.get("duration_s")),
            ]
            for r in row.get("runs", [])
        ),
    )
    print_fires(
        _marked(fires_rows(row.get("next_fires", []), d.get("tz", "UTC"), d["spec"]), row),
        "next fires",
    )


def _marked(rows: list[dict[str, Any]], row: dict[str, Any]) -> list[dict[str, Any]]:
    """Fire rows with `skipped` (who and why) on the fires an operator skipped."""
    skips: dict[str, str] = row.get("skips", {})
    return [{**r, "skipped": skips[r["utc"]]} if r["utc"] in skips else r for r in rows]


@app.command("next")
@handle_errors
def next_(
    name: str,
    n: int = count_option(10, "-n", help="How many fires."),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The next fire times of a stored schedule."""
    row: dict[str, Any] = run(
        with_nats(server, lambda nc: query(nc, "schedule", {"name": name, "fires": n}))
    )
    rows = _marked(
        fires_rows(
            row.get("next_fires", [])[:n],
            row["definition"].get("tz", "UTC"),
            row["definition"]["spec"],
        ),
        row,
    )
    if as_json:
        print_json(rows)
    elif not rows:
        # why: an empty table says nothing; say why there are no fires
        state = row.get("state", "")
        why = {
            "paused": "it is paused: no fires until `jetcron schedule resume`",
            "completed": "it has completed: no fires left",
        }.get(state, "no fires ahead")
        console.print(f"{name}: {why}", highlight=False)
    else:
        print_fires(rows, None)


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
        fire = _coming_fire(server, name, when)
        cmd = command(**command_meta(name, actor, reason), fire_time=fire)
        _send(server, cmd, as_json, f"{name}: the fire at {fmt_time(fire)} {done}")

    occurrence.__doc__ = doc
    app.command(verb)(handle_errors(occurrence))


_occurrence(
    "skip", SkipFire, "will be skipped", "Skip one coming fire (recorded as skipped, who and why)."
)
_occurrence("unskip", UnskipFire, "will run", "Undo a skip: the fire runs after all.")


def _coming_fire(server: str, name: str, when: str) -> datetime:
    from jetcron.projections.skips import coming_fire

    row: dict[str, Any] = run(with_nats(server, lambda nc: query(nc, "schedule", {"name": name})))
    return coming_fire(row, when, datetime.now(UTC))


app.command("backfill")(backfill)
