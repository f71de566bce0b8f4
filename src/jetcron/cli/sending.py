"""Sending a `schedule` (or `calendar`) command and saying what it did; the queries they ask."""

from __future__ import annotations

from typing import Any

from jetcron.cli.common import console, print_json, run, with_nats
from jetcron.domain.commands import AnyCommand, CommandReply
from jetcron.domain.events import ScheduleUpdated


async def query(nc: Any, view: str, params: dict[str, Any]) -> Any:
    """jetcron.client.query, imported when a command runs (help stays free of nats)."""
    from jetcron import client

    return await client.query(nc, view, params)


async def send_command(nc: Any, command: AnyCommand) -> CommandReply:
    """jetcron.client.send_command, imported when a command runs."""
    from jetcron import client

    return await client.send_command(nc, command)


def send(
    server: str, command: AnyCommand, as_json: bool, done: str, unchanged: str = "nothing to change"
) -> None:
    """Send `command`; print its reply (--json), else `done` with the log sequence, or
    `unchanged` when it changed nothing."""
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
