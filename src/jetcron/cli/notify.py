"""`jetcron notify ...`: notification sinks (webhook, local command, NATS subject) and their rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from jetcron.cli.common import (
    ActorOpt,
    JsonOpt,
    ServerOpt,
    command_meta,
    echo,
    fmt_time,
    handle_errors,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.domain.notifications import (
    DEFAULT_KINDS,
    KINDS,
    TIMEOUT,
    WINDOW,
    SinkOptions,
    validate_notification_name,
)

if TYPE_CHECKING:
    from jetcron.domain.commands import NotificationCommand

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
        "",
        "--secret",
        metavar="@FILE|S",
        help="Sign webhooks (HMAC-SHA256 header) with the content of FILE (or S); it goes to "
        "the webhook secrets bucket, never to the log.",
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
        None,
        "--schedule",
        metavar="NAME",
        help="Only these schedules (repeatable); each must exist unless --allow-missing.",
    ),
    allow_missing: bool = typer.Option(
        False,
        "--allow-missing",
        help="Let --schedule name a schedule that does not exist yet (the rule applies once "
        "one does).",
    ),
    tags: list[str] | None = typer.Option(
        None, "--tag", metavar="T", help="Only schedules with this tag (repeatable)."
    ),
    window: str = typer.Option(
        WINDOW,
        "--window",
        metavar="DUR",
        help="Group a storm: one message per schedule per window (0s: never).",
    ),
    timeout: str = typer.Option(
        TIMEOUT, "--timeout", metavar="DUR", help="Give up one attempt after this long."
    ),
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
) -> None:
    """Add a notification: `jetcron notify add ops --webhook https://hooks.example/x --secret S --on failure`."""  # noqa: E501
    if secret.startswith("@"):
        from jetcron.cli.secrets import read_secret

        secret = read_secret(secret[1:], "--secret")
    notification = SinkOptions(
        webhook=webhook,
        secret=secret,
        command=command,
        subject=subject,
        on=on,
        schedules=schedules,
        tags=tags,
        window=window,
        timeout=timeout,
    ).notification(name)
    from jetcron.domain.commands import AddNotification

    add_it = AddNotification(**command_meta(name, actor), notification=notification)
    seq = run(with_nats(server, lambda nc: _add_checked(nc, add_it, allow_missing)))
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
        ["name", "sink", "where", "on", "for", "delivered", "retrying", "failed", "state"],
        [_row(r) for r in rows],
        cut=("where", "on"),
    )


def _row(r: dict[str, Any]) -> list[Any]:
    n = r["notification"]
    scope = [*n["schedules"], *(f"tag:{t}" for t in n["tags"])] or ["all"]
    state = (
        f"failing since {fmt_time(r['failing_since'])}: {r['last_error']}" if r["failing"] else "ok"
    )
    if r.get("tested_at"):  # why: a test is not a delivery, so it is said apart
        test = f"failed: {r['test_error']}" if r.get("test_error") else "ok"
        state += f"; test {fmt_time(r['tested_at'])} {test}"
    return [
        r["name"],
        r["sink"],
        r["where"],
        ",".join(n["on"]),
        ",".join(scope),
        r["delivered"],
        len(r.get("retrying") or []),
        r["failed"],
        state,
    ]


@app.command("remove")
@handle_errors
def remove(name: str, server: str = ServerOpt, actor: str | None = ActorOpt) -> None:
    """Remove a notification (its deliveries stay in the log)."""
    from jetcron.domain.commands import RemoveNotification

    validate_notification_name(name)
    command = RemoveNotification(**command_meta(name, actor))
    seq = run(with_nats(server, lambda nc: _send(nc, command)))
    echo(f"removed notification {name!r} (log seq {seq})")


@app.command("test")
@handle_errors
def test(name: str, server: str = ServerOpt, actor: str | None = ActorOpt) -> None:
    """Have the scheduler leader send a test message through this notification, and say how it went."""
    validate_notification_name(name)
    ok, text = run(with_nats(server, lambda nc: _test(nc, name, actor)))
    echo(text, err=not ok)
    if not ok:
        raise typer.Exit(1)


async def _add_checked(nc: Any, command: Any, allow_missing: bool) -> int:
    """`_add`, after checking that every --schedule names a live schedule (unless allowed)."""
    if command.notification.schedules and not allow_missing:
        from jetcron.client import query
        from jetcron.domain.notifications import missing_schedule
        from jetcron.errors import InvalidInput

        live = [row["name"] for row in await query(nc, "schedules", {})]
        if problem := missing_schedule(command.notification, live):
            raise InvalidInput(
                f"--schedule: {problem}; nothing was added (--allow-missing adds a rule for a "
                "schedule still to come)"
            )
    return await _add(nc, command)


async def _add(nc: Any, command: Any) -> int:
    """Send `notify add` (its webhook secret to the bucket first); the log seq of the event."""
    from jetcron.client import add_notification

    reply = await add_notification(nc, command)
    return int(reply.events[0].seq)


async def _send(nc: Any, command: NotificationCommand) -> int:
    """Send a notification command to the scheduler; the log seq of the event it appended.

    why: through the scheduler like every change: it records the authenticated sender as the
    actor, and an operator may not append to the log itself (see the README's Security).
    """
    from jetcron.client import send_command

    reply = await send_command(nc, command)
    return int(reply.events[0].seq)


async def _test(nc: Any, name: str, actor: str | None) -> tuple[bool, str]:
    from jetcron.client import test_notification
    from jetcron.domain.commands import SendTestNotification

    return await test_notification(
        nc, SendTestNotification(**command_meta(name, actor)), TEST_WAIT_S
    )
