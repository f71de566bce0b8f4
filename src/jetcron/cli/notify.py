"""`jetcron notify ...`: notification sinks (webhook, local command, NATS subject) and their rules."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

import typer

from jetcron import ids
from jetcron.cli.common import (
    ActorOpt,
    JsonOpt,
    ServerOpt,
    default_actor,
    echo,
    fmt_time,
    handle_errors,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.domain.errors import CommandRejected
from jetcron.domain.notifications import (
    DEFAULT_KINDS,
    KINDS,
    Notification,
    Sink,
    validate_notification,
)
from jetcron.domain.spec import parse_duration
from jetcron.errors import InvalidInput

ON_HELP = f"Event kinds (repeatable): {', '.join(KINDS)}; default: {', '.join(DEFAULT_KINDS)}."
app = typer.Typer(
    help="Tell people or systems when jobs fail, expectations are missed, ...", no_args_is_help=True
)
TEST_WAIT_S = 15.0


@app.command("add")
@handle_errors
def add(
    name: str = typer.Argument(..., help="Notification name: letters, digits, '_', '-'."),
    webhook: str | None = typer.Option(
        None, "--webhook", metavar="URL", help="POST the JSON here."
    ),
    secret: str = typer.Option(
        "", "--secret", metavar="S", help="Sign webhooks: HMAC-SHA256 header."
    ),
    command: str | None = typer.Option(
        None,
        "--command",
        metavar="CMD",
        help="Run this (split like a shell, no shell) on the scheduler leader's host, JSON on stdin.",
    ),
    subject: str | None = typer.Option(
        None, "--subject", metavar="S", help="Publish the JSON on this NATS subject."
    ),
    on: list[str] | None = typer.Option(
        None,
        "--on",
        metavar="KIND",
        help=ON_HELP,
    ),
    schedules: list[str] | None = typer.Option(
        None, "--schedule", metavar="NAME", help="Only these schedules (repeatable)."
    ),
    tags: list[str] | None = typer.Option(
        None, "--tag", metavar="T", help="Only schedules with this tag (repeatable)."
    ),
    window: str = typer.Option(
        "60s",
        "--window",
        metavar="DUR",
        help="Group a storm: one message per schedule per window (0s: never).",
    ),
    timeout: str = typer.Option(
        "10s", "--timeout", metavar="DUR", help="Give up one attempt after this long."
    ),
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
) -> None:
    """Add a notification: `jetcron notify add ops --webhook https://hooks.example/x --secret S --on failure`."""  # noqa: E501
    notification = validate_notification(
        Notification(
            name=name,
            sink=Sink(
                webhook=webhook,
                secret=secret,
                command=_argv(command),
                subject=subject,
                timeout_s=_seconds("--timeout", timeout),
            ),
            on=list(dict.fromkeys(on or DEFAULT_KINDS)),
            schedules=list(dict.fromkeys(schedules or [])),
            tags=list(dict.fromkeys(tags or [])),
            window_s=_seconds("--window", window),
        )
    )
    seq = run(with_nats(server, lambda nc: _append_added(nc, notification, actor)))
    echo(f"added notification {name!r} (log seq {seq})")


@app.command("list")
@handle_errors
def list_(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Notifications, their rules, and how their deliveries go (failures included)."""
    from jetcron.cli.common import ask_view

    rows = ask_view(server, "notifications")
    if as_json:
        print_json(rows)
        return
    table(
        None,
        ["name", "sink", "where", "on", "for", "delivered", "failed", "state"],
        [_row(r) for r in rows],
        cut=("where", "on"),
    )


def _row(r: dict[str, Any]) -> list[Any]:
    n = r["notification"]
    scope = [*n["schedules"], *(f"tag:{t}" for t in n["tags"])] or ["all"]
    state = (
        f"failing since {fmt_time(r['failing_since'])}: {r['last_error']}" if r["failing"] else "ok"
    )
    return [
        r["name"],
        r["sink"],
        r["where"],
        ",".join(n["on"]),
        ",".join(scope),
        r["delivered"],
        r["failed"],
        state,
    ]


@app.command("remove")
@handle_errors
def remove(name: str, server: str = ServerOpt, actor: str | None = ActorOpt) -> None:
    """Remove a notification (its deliveries stay in the log)."""
    seq = run(with_nats(server, lambda nc: _append_removed(nc, name, actor)))
    echo(f"removed notification {name!r} (log seq {seq})")


@app.command("test")
@handle_errors
def test(name: str, server: str = ServerOpt, actor: str | None = ActorOpt) -> None:
    """Have the scheduler leader send a test message through this notification, and say how it went."""
    ok, text = run(with_nats(server, lambda nc: _test(nc, name, actor)))
    echo(text, err=not ok)
    if not ok:
        raise typer.Exit(1)


def _argv(command: str | None) -> list[str] | None:
    if command is None:
        return None
    try:
        argv = shlex.split(command)
    except ValueError as err:
        raise InvalidInput(f"invalid --command {command!r}: {err}") from None
    if not argv:
        raise InvalidInput("--command is empty")
    return argv


def _seconds(option: str, value: str) -> float:
    try:
        return parse_duration("0s" if value.strip() == "0" else value).total_seconds()
    except ValueError as err:
        raise InvalidInput(f"invalid {option} {value!r}: {err}") from None


def _envelope(event: Any, actor: str | None) -> Any:
    from jetcron.domain.events import Envelope

    return Envelope(
        id=ids.new_id(), at=datetime.now(UTC), actor=actor or default_actor(), event=event
    )


async def _current(nc: Any, name: str) -> tuple[Any, int, Any]:
    from jetcron import subjects
    from jetcron.domain.events import NotificationAdded
    from jetcron.log.stream import EventLog

    event_log = await EventLog(nc).open(create=False)
    history, last_seq = await event_log.load(subjects.notification(name))
    live = bool(history) and isinstance(history[-1].envelope.event, NotificationAdded)
    return event_log, last_seq, live


async def _append_added(nc: Any, notification: Notification, actor: str | None) -> int:
    from jetcron import subjects
    from jetcron.domain.events import NotificationAdded

    event_log, last_seq, live = await _current(nc, notification.name)
    try:
        if live:
            raise CommandRejected(
                f"notification {notification.name!r} exists; `jetcron notify remove {notification.name}` first"
            )
        event = NotificationAdded(name=notification.name, notification=notification)
        # why: CAS on the sink's subject: two operators adding one name at once store one
        seqs = await event_log.append(
            subjects.notification(notification.name),
            [_envelope(event, actor)],
            expected_last_subject_seq=last_seq,
        )
        return int(seqs[0])
    finally:
        await event_log.close()


async def _append_removed(nc: Any, name: str, actor: str | None) -> int:
    from jetcron import subjects
    from jetcron.domain.events import NotificationRemoved

    event_log, last_seq, live = await _current(nc, name)
    try:
        if not live:
            raise CommandRejected(f"no notification {name!r}; see `jetcron notify list`")
        seqs = await event_log.append(
            subjects.notification(name), [_envelope(NotificationRemoved(name=name), actor)],
            expected_last_subject_seq=last_seq,
        )  # fmt: skip
        return int(seqs[0])
    finally:
        await event_log.close()


async def _test(nc: Any, name: str, actor: str | None) -> tuple[bool, str]:
    import asyncio
    import time

    from jetcron import subjects
    from jetcron.domain.events import NotifyDelivered, NotifyFailed, NotifyTest

    event_log, _, live = await _current(nc, name)
    try:
        if not live:
            raise CommandRejected(f"no notification {name!r}; see `jetcron notify list`")
        seq = (
            await event_log.append(
                subjects.notify_test(name), [_envelope(NotifyTest(name=name), actor)]
            )
        )[0]
        deadline = time.monotonic() + TEST_WAIT_S
        while time.monotonic() < deadline:
            last = await event_log.last(subjects.delivery(name, seq))
            event = None if last is None else last.envelope.event
            if isinstance(event, NotifyDelivered):
                return True, f"delivered: test message {event.delivery_id} sent through {name!r}"
            if isinstance(event, NotifyFailed):
                return False, f"failed: {event.error} (the leader retries it with backoff)"
            await asyncio.sleep(0.2)
        return (
            False,
            f"no delivery recorded within {TEST_WAIT_S:g}s: is a scheduler (`jetcron serve`/`up`) running?",
        )
    finally:
        await event_log.close()
