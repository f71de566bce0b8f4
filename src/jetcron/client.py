"""The client side of commands and queries: what the CLI (or any Python program) calls."""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from jetcron.errors import (
    CommandWithdrawn,
    InfrastructureError,
    InvalidInput,
    NatsUnreachable,
    NoAnswerInTime,
)
from jetcron.log.replicas import ask
from jetcron.log.requests import payload_of, request, service_error, stale_of

if TYPE_CHECKING:
    from nats.aio.client import Client

    from jetcron.domain.commands import (
        AddNotification,
        CommandReply,
        Request,
        SendTestNotification,
    )
    from jetcron.domain.envelope import StoredEvent

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()


async def send_command(nc: Client, command: Request, *, timeout: float = 3.0) -> CommandReply:
    """Send a command; the reply, or the rejection raised as CommandRejected or a
    ScheduleNotFound / NotificationNotFound / CalendarNotFound."""
    # why: imported here, so queries (and `jetcron --help`) do not load the command schemas
    from jetcron.connect import identity_of
    from jetcron.domain.commands import (
        CalendarCommand,
        NotificationCommand,
        reply_decoder,
    )
    from jetcron.domain.commands import verb as command_verb

    verb = command_verb(command)
    user = identity_of(nc)
    # why: under auth a user may publish commands only under its own name: the subject is
    # the proof of who sent it, and the scheduler records that as the actor.
    subject = subjects.command(verb) if user is None else subjects.command_as(user, verb)
    try:
        msg = await request(nc, subject, _encoder.encode(command), f"`{verb}`", timeout)
    except NoAnswerInTime as err:
        raise await _gave_up(nc, user, command.command_id, err) from err
    reply = reply_decoder.decode(msg.data)
    if reply.ok:
        return reply
    if reply.code == "not_found":
        if isinstance(command, NotificationCommand):
            raise NotificationNotFound(command.name)
        if isinstance(command, CalendarCommand):
            raise CalendarNotFound(command.name)
        raise ScheduleNotFound(command.name)
    if reply.code == "stale":
        raise VersionMismatch(reply.error)
    if reply.code in ("rejected", "invalid"):
        raise CommandRejected(reply.error)
    raise InfrastructureError(reply.error)


async def _gave_up(nc: Client, user: str | None, command_id: str, err: NoAnswerInTime) -> Exception:
    """Withdraw a command nobody answered in time (log/withdrawal.py), and what to say: that it
    will not be applied, that a replica has it, or (older scheduler) that it may still be."""
    from jetcron.log import withdrawal
    from jetcron.log.replicas import server_answers

    took = await withdrawal.take(nc, user, command_id, withdrawal.WITHDRAWN)
    if took is None and not await server_answers(nc):
        # why: NATS itself is stalled or gone, not a replica (newcomer19b F7)
        return NatsUnreachable(err.what, stalled=True, command=True)
    if took:
        return CommandWithdrawn(err.what, err.timeout)
    if took is False:
        if (why := await withdrawal.failure(nc, user, command_id)) is not None:
            return InfrastructureError(why)  # why: the replica knows it was not applied
        return NoAnswerInTime(
            err.what,
            err.timeout,
            command=True,
            hint="a scheduler replica has begun applying it: check `jetcron audit` before "
            "sending it again",
        )
    return err


async def test_notification(
    nc: Client, command: SendTestNotification, wait_s: float = 15.0
) -> tuple[bool, str]:
    """Have the scheduler leader send a test message; (delivered?, the line `notify test`
    prints) once the delivery (or its failure) is in the log, or after `wait_s`."""
    import asyncio
    import time

    from jetcron.domain.notify_events import NotifyDelivered, NotifyFailed
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
                return False, f"failed: {event.error} (a test is sent once, not retried)"
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
    answer, stale = await query_and_staleness(nc, view, params, timeout=timeout)
    if stale is not None:
        log.warning("%s: answered from views stale since %s: %s", view, *stale)
    return answer


async def query_and_staleness(
    nc: Client, view: str, params: dict[str, Any] | None = None, *, timeout: float = 5.0
) -> tuple[Any, tuple[str, str] | None]:
    """`query`'s answer and, if the views answering may lack events, (since, reason) as the
    service said it (the web gateway shows it; the CLI logs it)."""
    # why: not `request`: a queue-group request that lands on a frozen replica is never
    # answered; `ask` then asks a replica that answers discovery too (log/replicas.py)
    msg = await ask(nc, view, _encoder.encode(params or {}), f"query `{view}`", timeout)
    stale = stale_of(msg)
    error = service_error(msg)
    if error is not None:
        if stale is not None:  # why: a "not found" from views behind the log may be untrue
            log.warning("%s: answered from views stale since %s: %s", view, *stale)
        code, message = error
        if code == "404":
            found = msgspec.json.decode(msg.data) if msg.data else {}
            if found.get("kind") == "calendar":
                raise CalendarNotFound(found.get("name", "?"))
            raise ScheduleNotFound(found.get("name", "?"), found.get("hint", ""))
        if code == "400":
            raise InvalidInput(message)
        raise InfrastructureError(message)
    return msgspec.json.decode(payload_of(msg)), stale


async def run_output(nc: Client, schedule: str, run_id: str) -> dict[str, Any]:
    """A run's captured output and an action's result, from the last of its events that has them."""
    return output_of(await run_events(nc, schedule, run_id))


async def run_events(nc: Client, schedule: str, run_id: str) -> list[StoredEvent]:
    """Every event of one run that its claims accept, in log order (a forged one says nothing:
    no output, no attempt)."""
    from jetcron.domain.claims import accepted
    from jetcron.log.stream import EventLog

    event_log = await EventLog(nc).open(create=False)
    try:
        events, _ = await event_log.load_run(schedule, run_id)
    finally:
        await event_log.close()
    return accepted(events)


def output_of(events: list[StoredEvent]) -> dict[str, Any]:
    """The output and result of the last of a run's events that has them ({} if none), with
    `attempt`: whose they are (a later attempt may be running: newcomer19b F12)."""
    for stored in reversed(events):
        captured = getattr(stored.event, "output", None)
        if captured is not None:
            out: dict[str, Any] = msgspec.to_builtins(captured)
            out["attempt"] = getattr(stored.event, "attempt", 1)
            result = getattr(stored.event, "result", None)
            return out if result is None else dict(out, result=result)
    return {}


class Backfilling:
    """How far a paced backfill got: filled as it goes, so an interrupted caller can say."""

    def __init__(self) -> None:
        self.sent: dict[str, str] = {}
        """Run id -> the fire (UTC ISO) it backfills."""
        self.ended: dict[str, str] = {}
        """Run id -> its final status."""
        self.skipped: dict[str, str] = {}
        """Fire -> why it was not sent (overlap skip)."""

    @property
    def in_flight(self) -> int:
        """Runs sent that have not ended."""
        return len(self.sent) - len(self.ended)


async def backfill(
    nc: Client,
    todo: list[dict[str, Any]],
    *,
    overlap: str,
    most: int,
    meta: Callable[[], dict[str, Any]],
    say: Callable[[str], None],
    progress: Backfilling | None = None,
    poll_s: float = 0.25,
) -> Backfilling:
    """Send one BackfillFire per planned fire (the `backfill` query's `backfill` rows), at
    most `most` in flight; with overlap skip or queue, none while a run of the schedule this
    backfill did not send is in flight: skip leaves the fire (reported), queue waits.

    `meta()` gives the fields of each command (name, fresh command id, time, actor, reason).
    Returns when every run sent has ended (see projections/backfill.py for the rules).
    """
    import asyncio
    from datetime import datetime

    from jetcron.domain.commands import BackfillFire

    done = progress or Backfilling()
    name = str(meta()["name"])

    async def wait() -> None:
        await asyncio.sleep(poll_s)
        await _settle(nc, done, say)

    for fire in todo:
        utc = str(fire["utc"])
        while done.in_flight >= most:
            await wait()
        while overlap != "allow" and (busy := await _others_in_flight(nc, name, done)):
            if overlap == "skip":
                done.skipped[utc] = f"run {busy} of {name} was in flight (overlap skip)"
                say(f"{utc}: skipped: {done.skipped[utc]}")
                break
            await wait()
        if utc in done.skipped:
            continue
        when = datetime.fromisoformat(utc.replace("Z", "+00:00"))
        command = BackfillFire(**meta(), fire_time=when, rerun=int(fire.get("rerun", 0)))
        reply = await send_command(nc, command)
        run_id = str(reply.events[0].envelope.event.run_id)  # type: ignore[union-attr]
        done.sent[run_id] = utc
        say(f"{utc}: sent run {run_id[:8]}")
    while done.in_flight:
        await wait()
    return done


async def _others_in_flight(nc: Client, name: str, done: Backfilling) -> str:
    """The short id of a run of `name` in flight that this backfill did not send, or ''."""
    from jetcron.domain.runs import IN_FLIGHT

    answer = await query(nc, "runs", {"schedule": name, "status": sorted(IN_FLIGHT)})
    others = [r["run_id"] for r in answer["runs"] if r["run_id"] not in done.sent]
    return str(others[0])[:8] if others else ""


async def _settle(nc: Client, done: Backfilling, say: Callable[[str], None]) -> None:
    """Record the runs that ended since the last look (and say a line for each)."""
    from jetcron.domain.runs import IN_FLIGHT

    for run_id, utc in done.sent.items():
        if run_id in done.ended:
            continue
        try:
            row = await query(nc, "run", {"run_id": run_id})
        except InvalidInput:
            continue  # why: the runs view has not folded the trigger yet
        if row["status"] not in IN_FLIGHT:
            done.ended[run_id] = row["status"]
            say(f"{utc}: run {run_id[:8]} {row['status']}")


async def add_notification(nc: Client, command: AddNotification) -> CommandReply:
    """Send `notify add`; a webhook secret given as a value goes to the webhook secrets bucket
    first, under a key of its own, and the command (so the log) carries only `kv:<key>`.

    why: a key per add, never the notification's name: a refused add (a taken name) must not
    replace the secret the existing notification signs with.
    """
    import msgspec

    from jetcron.domain.definition import SECRET_REF
    from jetcron.domain.errors import CommandRejected
    from jetcron.log.secrets import purge_hook_secret, put_hook_secret

    sink = command.notification.sink
    if not sink.secret or sink.secret.startswith(SECRET_REF):
        return await send_command(nc, command)
    key = f"{command.notification.name}.{command.command_id}"
    await put_hook_secret(nc, key, sink.secret)
    stored = msgspec.structs.replace(sink, secret=f"{SECRET_REF}{key}")
    command = msgspec.structs.replace(
        command, notification=msgspec.structs.replace(command.notification, sink=stored)
    )
    try:
        return await send_command(nc, command)
    except CommandRejected:
        # why: refused, nothing names the key; a lost reply (timeout) may still be stored: kept
        await purge_hook_secret(nc, key)
        raise
