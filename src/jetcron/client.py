"""The client side of commands and queries: what the CLI (or any Python program) calls."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec

from jetcron import subjects
from jetcron.domain.errors import (
    CalendarNotFound,
    CommandRejected,
    NotificationNotFound,
    ScheduleNotFound,
    VersionMismatch,
)
from jetcron.errors import InfrastructureError, InvalidInput
from jetcron.log.requests import request, service_error, stale_of

if TYPE_CHECKING:
    from nats.aio.client import Client

    from jetcron.domain.commands import (
        AnyCommand,
        CommandReply,
        NotificationCommand,
        SendTestNotification,
    )

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()


async def send_command(
    nc: Client, command: AnyCommand | NotificationCommand, *, timeout: float = 3.0
) -> CommandReply:
    """Send a command; the reply, or the rejection raised as CommandRejected or a
    ScheduleNotFound / NotificationNotFound / CalendarNotFound."""
    # why: imported here, so queries (and `jetcron --help`) do not load the command schemas
    from jetcron.connect import identity_of
    from jetcron.domain.commands import (
        AddNotification,
        CalendarCommand,
        RemoveNotification,
        SendTestNotification,
        reply_decoder,
    )

    verb = str(command.__struct_config__.tag)
    user = identity_of(nc)
    # why: under auth a user may publish commands only under its own name: the subject is
    # the proof of who sent it, and the scheduler records that as the actor.
    subject = subjects.command(verb) if user is None else subjects.command_as(user, verb)
    msg = await request(nc, subject, _encoder.encode(command), f"`{verb}`", timeout)
    reply = reply_decoder.decode(msg.data)
    if reply.ok:
        return reply
    if reply.code == "not_found":
        if isinstance(command, AddNotification | RemoveNotification | SendTestNotification):
            raise NotificationNotFound(command.name)
        if isinstance(command, CalendarCommand):
            raise CalendarNotFound(command.name)
        raise ScheduleNotFound(command.name)
    if reply.code == "stale":
        raise VersionMismatch(reply.error)
    if reply.code in ("rejected", "invalid"):
        raise CommandRejected(reply.error)
    raise InfrastructureError(reply.error)


async def test_notification(
    nc: Client, command: SendTestNotification, wait_s: float = 15.0
) -> tuple[bool, str]:
    """Have the scheduler leader send a test message; (delivered?, the line `notify test`
    prints) once the delivery (or its failure) is in the log, or after `wait_s`."""
    import asyncio
    import time

    from jetcron.domain.events import NotifyDelivered, NotifyFailed
    from jetcron.log.stream import EventLog

    reply = await send_command(nc, command)
    seq, name = int(reply.events[0].seq), command.name
    event_log = await EventLog(nc).open(create=False)
    try:
        deadline = time.monotonic() + wait_s
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
            f"no delivery recorded within {wait_s:g}s: is a scheduler (`jetcron serve`/`up`) running?",
        )
    finally:
        await event_log.close()


async def query(
    nc: Client, view: str, params: dict[str, Any] | None = None, *, timeout: float = 5.0
) -> Any:
    """Ask the projection service; returns the decoded JSON result.

    An answer from a view that may lack events (its follower down or behind) is logged as a
    warning naming since when, so the CLI never shows frozen state as if it were current.
    """
    msg = await request(
        nc, subjects.query(view), _encoder.encode(params or {}), f"query `{view}`", timeout
    )
    if (stale := stale_of(msg)) is not None:
        log.warning("%s: answered from views stale since %s: %s", view, *stale)
    error = service_error(msg)
    if error is not None:
        code, message = error
        if code == "404":
            found = msgspec.json.decode(msg.data) if msg.data else {}
            if found.get("kind") == "calendar":
                raise CalendarNotFound(found.get("name", "?"))
            raise ScheduleNotFound(found.get("name", "?"))
        if code == "400":
            raise InvalidInput(message)
        raise InfrastructureError(message)
    return msgspec.json.decode(msg.data)


async def run_output(nc: Client, schedule: str, run_id: str) -> dict[str, Any]:
    """A run's captured output and an action's result, from the last of its events that has them."""
    from jetcron.log.stream import EventLog

    event_log = await EventLog(nc).open(create=False)
    try:
        events, _ = await event_log.load(subjects.run(schedule, run_id))
    finally:
        await event_log.close()
    for stored in reversed(events):
        captured = getattr(stored.event, "output", None)
        if captured is not None:
            out: dict[str, Any] = msgspec.to_builtins(captured)
            result = getattr(stored.event, "result", None)
            return out if result is None else dict(out, result=result)
    return {}
