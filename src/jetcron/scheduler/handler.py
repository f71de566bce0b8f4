"""The command handler: load the aggregate, decide, append with CAS, retry on conflict."""

from __future__ import annotations

import asyncio
import logging
import random

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from jetcron import ids, subjects
from jetcron.clock import Clock, SystemClock
from jetcron.domain.calendar import named, unknown_calendar, used_by, validate_calendar_name
from jetcron.domain.claims import accepted
from jetcron.domain.commands import (
    AcknowledgeHealth,
    CalendarCommand,
    CommandReply,
    DeleteCalendar,
    NotificationCommand,
    RemoveNotification,
    Request,
    UpdateNotification,
    command_decoder,
    verb,
)
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.errors import (
    CalendarNotFound,
    CommandRejected,
    NotificationNotFound,
    ScheduleNotFound,
    VersionMismatch,
)
from jetcron.domain.events import (
    CalendarDeleted,
    CalendarReferenced,
    Event,
    HealthAcknowledged,
    RunCancelled,
    RunCancelRequested,
    RunDeferred,
    RunFailed,
    RunTimedOut,
    RunTriggered,
    ScheduleCreated,
    ScheduleUpdated,
)
from jetcron.domain.notifications import validate_notification_name
from jetcron.domain.notify_events import NotifyTest
from jetcron.domain.runs import between_attempts, cancel_reason, is_final
from jetcron.domain.validation import validate_line, validate_name
from jetcron.errors import InfrastructureError
from jetcron.log import stuck, withdrawal
from jetcron.log.acks import ack_lost
from jetcron.log.errors import STORAGE, ConcurrencyConflict, storage_full
from jetcron.log.secrets import purge_hook_secret
from jetcron.log.stream import EventLog
from jetcron.scheduler import calendars, notifications
from jetcron.scheduler.decider import decide, fold

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 25
LOADS_AT_ONCE = 64
"""Schedule subjects a calendar delete loads concurrently to find who still names it."""

_reply_encoder = msgspec.json.Encoder()
WITHDRAWN = (
    "its sender gave up waiting and withdrew it before any replica decided it; nothing was changed"
)


def aggregate_subject(command: Request) -> str:
    """The subject whose history decides the command (and takes its events, under CAS)."""
    # why: a bad name is not even a valid subject
    if isinstance(command, AcknowledgeHealth):
        return subjects.HEALTH_ACKS
    if isinstance(command, NotificationCommand):
        return subjects.notification(validate_notification_name(command.name))
    if isinstance(command, CalendarCommand):
        return subjects.calendar(validate_calendar_name(command.name))
    return subjects.schedule(validate_name(command.name))


def decide_on(
    history: list[StoredEvent], command: Request, users: dict[str, str] | None = None
) -> list[Event]:
    """The events the aggregate's pure decider yields for this command (`users`: the
    schedules naming the calendar a DeleteCalendar is about)."""
    events = (e.event for e in history)
    if isinstance(command, AcknowledgeHealth):
        # why: always recorded; what it acknowledges is whatever the views folded before it
        return [HealthAcknowledged()]
    if isinstance(command, NotificationCommand):
        return notifications.decide(notifications.fold(events), command)
    if isinstance(command, CalendarCommand):
        return calendars.decide_calendar(calendars.fold(events), command, users)
    return decide(fold(events), command)


class CommandHandler:
    """Turns commands into appended events; safe to run in several replicas at once."""

    def __init__(self, event_log: EventLog, clock: Clock | None = None) -> None:
        self.log = event_log
        self.clock = clock or SystemClock()

    async def handle(self, command: Request, note: str | None = None) -> list[StoredEvent]:
        """Appended events ([] if nothing changed); CommandRejected if the command is invalid.

        `note`: an "on behalf of" recorded beside the actor (see `handle_request`).
        """
        events, _ = await self.handle_once(command, note)
        return events

    async def handle_once(
        self, command: Request, note: str | None = None
    ) -> tuple[list[StoredEvent], bool]:
        """Like handle, and whether this call appended them (False: an earlier one did, or none)."""
        subject = aggregate_subject(command)
        validate_line(command.reason, "the reason")
        validate_line(command.actor, "the actor")
        validate_line(note or "", "the actor")  # why: an --actor kept as "on behalf of"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            history, last_seq = await self.log.load(subject)
            # why: a retried command (lost reply, lost ack) must not apply twice.
            done = [e for e in history if e.envelope.causation_id == command.command_id]
            if done:
                return done, False
            events = decide_on(history, command, await self._users(command, history))
            if not events:
                return [], False
            refs = await self._references(history, events[0])
            try:
                stored = await self._append(subject, last_seq, command, events, note, refs)
            except ConcurrencyConflict:
                log.debug("conflict on %s (attempt %d), reloading", subject, attempt)
                # why: jittered backoff so a crowd of writers on one schedule drains instead of colliding.
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
                continue
            await self._forget_secret(command, history)
            return stored, True
        raise ConcurrencyConflict(subject, -1, f"still conflicting after {MAX_ATTEMPTS} attempts")

    async def _forget_secret(self, command: Request, history: list[StoredEvent]) -> None:
        """Once a notification's removal (or an update that signs with another key) is stored,
        purge the webhook signing secret it signed with.

        why here: every removal (CLI, HTTP API, any NATS client) passes through the handler,
        once, right after it is stored; the key is fresh per `notify add` (and `<name>.file`
        for `apply`), so no other notification signs with it. A crash in between leaves the
        key behind (harmless: nothing names it any more).
        """
        if not isinstance(command, RemoveNotification | UpdateNotification):
            return
        key = notifications.secret_key(notifications.fold(e.event for e in history))
        if isinstance(command, UpdateNotification):
            key = None if key == notifications.secret_key(command.notification) else key
        if key is None:
            return
        try:
            await purge_hook_secret(self.log.nc, key)
        except Exception as err:  # noqa: BLE001 - the removal stands; say what is left
            log.warning(
                "notification %s removed, but its webhook secret %s is still in %s: %s",
                command.name,
                key,
                subjects.HOOK_SECRETS_BUCKET,
                str(err) or type(err).__name__,
            )

    async def _users(self, command: Request, history: list[StoredEvent]) -> dict[str, str] | None:
        """For a calendar delete, the live schedules that name the calendar; None otherwise.

        The candidates are the schedules its subject says began to name it (CalendarReferenced,
        in `history`, read before them), each folded from its own subject: a few loads, not a
        scan of every schedule."""
        if not isinstance(command, DeleteCalendar):
            return None
        named_by = dict.fromkeys(
            e.event.schedule for e in history if isinstance(e.event, CalendarReferenced)
        )
        live = []
        names = list(named_by)
        for i in range(0, len(names), LOADS_AT_ONCE):
            loads = [self.log.load(subjects.schedule(n)) for n in names[i : i + LOADS_AT_ONCE]]
            for events, _ in await asyncio.gather(*loads):
                state = fold(e.event for e in events)
                if state.live and state.definition is not None:
                    live.append((state.name, state.definition))
        return used_by(command.name, live)

    async def _references(
        self, history: list[StoredEvent], event: Event
    ) -> list[tuple[str, Event, int]]:
        """The calendars a created or updated schedule begins to name, as (subject,
        CalendarReferenced, sequence read there); CommandRejected if one does not exist."""
        if not isinstance(event, ScheduleCreated | ScheduleUpdated):
            return []
        before = fold(e.event for e in history)
        had = set(named(before.definition)) if before.live else set()
        refs: list[tuple[str, Event, int]] = []
        for name in named(event.definition):
            subject = subjects.calendar(name)
            seq = await self._live_at(subject)
            if seq is None:
                raise unknown_calendar(name)
            if name not in had:
                refs.append((subject, CalendarReferenced(name=name, schedule=event.name), seq))
        return refs

    async def _live_at(self, subject: str) -> int | None:
        """The last sequence of a live calendar's subject; None if it is absent or deleted.

        why: one read of the last message, not the whole subject, which grows by a
        calendar.referenced per schedule that names the calendar; a reference is stored only
        while the calendar is live, so the last event alone says whether it is.
        """
        last = await self.log.last(subject)
        if last is None:  # why: nothing there, or a last event this version cannot decode
            found, seq = await self.log.load(subject)
            return seq if calendars.fold(e.event for e in found).status == "live" else None
        return None if isinstance(last.event, CalendarDeleted) else last.seq

    async def _append(
        self,
        subject: str,
        last_seq: int,
        command: Request,
        events: list[Event],
        note: str | None = None,
        refs: list[tuple[str, Event, int]] | None = None,
    ) -> list[StoredEvent]:
        envelopes = [self._envelope(command, e, note) for e in events]
        if isinstance(events[0], NotifyTest):
            # why: a test request is no change of the sink: it goes to the leader's test
            # subject; the command id dedupes a retry (as the fire id does for a trigger).
            target = subjects.notify_test(events[0].name)
            ack = await self.log.publish(target, envelopes[0], msg_id=command.command_id)
            return [StoredEvent(ack.seq, target, envelopes[0])]
        if isinstance(events[0], RunCancelRequested):
            return await self._cancel_run(events[0], envelopes[0], command)
        if isinstance(events[0], RunTriggered):
            # why: a forced run goes to the executors' subject; its fire id dedupes a retry.
            trigger = events[0]
            target = subjects.trigger(trigger.target)
            ack = await self.log.publish(target, envelopes[0], msg_id=trigger.fire_id)
            return [StoredEvent(ack.seq, target, envelopes[0])]
        # why: the calendars a schedule begins to name move in the same atomic batch, under
        # their expected sequences, so a racing calendar delete cannot orphan the schedule
        also = [(s, self._envelope(command, e, note), seq) for s, e, seq in refs or []]
        seqs = await self.log.append(
            subject,
            envelopes,
            expected_last_subject_seq=last_seq,
            msg_id=command.command_id,
            also=also,
        )
        return [StoredEvent(s, subject, e) for s, e in zip(seqs, envelopes, strict=True)]

    async def _cancel_run(
        self, request: RunCancelRequested, envelope: Envelope, command: Request
    ) -> list[StoredEvent]:
        """Record the request on the run's subject, then tell whichever executor holds it."""
        subject = subjects.run_by_scheduler(request.name, request.run_id)
        # why: no events yet is fine: a queued trigger finds the request when it is delivered.
        history, _ = await self.log.load_run(request.name, request.run_id)
        words = [e.envelope.event for e in accepted(history)]
        final = next((e for e in reversed(words) if is_final(e)), None)
        if final is not None:
            status = final.__struct_config__.tag
            raise CommandRejected(f"run {request.run_id} already ended ({status})")
        ack = await self.log.publish(subject, envelope, msg_id=command.command_id)
        # why: the log is the record (a redelivery sees it); the message stops a live job now.
        await self.log.nc.publish(subjects.cancel(request.run_id), request.reason.encode())
        stored = [StoredEvent(ack.seq, subject, envelope)]
        if (waiting := between_attempts(words)) is not None:
            stored += await self._end_waiting(waiting, request, ack.seq, envelope)
        return stored

    async def _end_waiting(
        self,
        waiting: RunFailed | RunTimedOut | RunDeferred,
        request: RunCancelRequested,
        request_seq: int,
        envelope: Envelope,
    ) -> list[StoredEvent]:
        """End a run that waits for its next attempt: nobody runs it, so nobody else would say
        it is cancelled until the attempt was due (a 10-minute backoff: ten minutes).

        why under a compare-and-set on the run's writers' subjects, at our request: an
        executor starting the next attempt right now claims it the same way, so exactly one of
        the two lands; if the attempt won, its executor finds the request and stops.
        """
        ended = RunCancelled(
            schedule_id=waiting.schedule_id, name=waiting.name, fire_id=waiting.fire_id,
            fire_time=waiting.fire_time, run_id=waiting.run_id, executor=waiting.executor,
            attempt=waiting.attempt, reason=cancel_reason(request.reason),
        )  # fmt: skip
        subject = subjects.run_by_scheduler(request.name, request.run_id)
        end = msgspec.structs.replace(envelope, id=ids.new_id(), event=ended)
        try:
            [seq] = await self.log.append(
                subject, [end], expected_last_subject_seq=request_seq,
                expected_subject=subjects.run_events(request.name, request.run_id)[0],
                msg_id=f"{envelope.causation_id}:ended",
            )  # fmt: skip
        except ConcurrencyConflict:
            log.info("cancel of %s: an attempt began meanwhile; it stops itself", request.run_id)
            return []
        return [StoredEvent(seq, subject, end)]

    def _envelope(self, command: Request, event: Event, note: str | None) -> Envelope:
        return Envelope(
            id=ids.new_id(),
            at=command.at,
            actor=command.actor,
            on_behalf_of=note,
            reason=command.reason,
            causation_id=command.command_id,
            correlation_id=command.command_id,
            event=event,  # type: ignore[arg-type]
        )

    async def handle_request(self, msg: Msg) -> None:
        """Decode a NATS request, handle it, reply with a CommandReply."""
        sent_as = msg.subject.rsplit(".", 1)[-1]
        reply = await self._reply_for(msg.data, subjects.command_sender(msg.subject), sent_as)
        if msg.reply:
            await msg.respond(_reply_encoder.encode(reply))

    async def _reply_for(
        self, data: bytes, sender: str | None = None, sent_as: str | None = None
    ) -> CommandReply:
        try:
            command = command_decoder.decode(data)
        except msgspec.DecodeError as err:
            return CommandReply(ok=False, code="invalid", error=f"malformed command: {err}")
        if sender is not None and sent_as is not None and sent_as != verb(command):
            # why: under auth the verb is what permissions see (a role may be denied one, e.g.
            # command sinks), so a body must not be another verb than its subject says
            return CommandReply(
                ok=False, code="invalid", error=f"a `{verb(command)}` command sent as `{sent_as}`"
            )
        # why: the service's clock stamps the event time, not the operator's laptop.
        command = msgspec.structs.replace(command, at=self.clock.now())
        note = None
        if sender is not None:
            # why: the subject names the authenticated sender (its permissions allow no other
            # name), so it is the actor; a different --actor is kept only as a note.
            note = command.actor if command.actor not in ("", sender) else None
            command = msgspec.structs.replace(command, actor=sender)
        if await self._withdrawn(sender, command.command_id):
            return CommandReply(ok=False, code="withdrawn", error=WITHDRAWN)
        try:
            return CommandReply(ok=True, events=await self.handle(command, note))
        except (ScheduleNotFound, NotificationNotFound, CalendarNotFound) as err:
            return CommandReply(ok=False, code="not_found", error=str(err))
        except VersionMismatch as err:
            return CommandReply(ok=False, code="stale", error=str(err))
        except CommandRejected as err:
            return CommandReply(ok=False, code="rejected", error=str(err))
        except ConcurrencyConflict as err:
            return CommandReply(ok=False, code="conflict", error=str(err))
        except InfrastructureError as err:
            log.warning("command %s failed: %s", command.command_id, err)
            why = await _failed(verb(command), err)
            # why: a sender that gave up waiting was told "a replica has begun"; this tells it
            await withdrawal.failed(self.log.nc, sender, command.command_id, why)
            return CommandReply(ok=False, code="error", error=why)
        except Exception as err:  # noqa: BLE001 - answer, never leave the sender waiting
            # why: unanswered, the sender waited 3 s and was told a replica had begun applying
            # it (an @at past year 9999 did that); say what failed instead
            log.exception("command %s (%s) failed", command.command_id, verb(command))
            return CommandReply(
                ok=False,
                code="error",
                error=f"the scheduler failed on `{verb(command)}` ({type(err).__name__}: {err}): "
                f"a jetcron bug, please report it; `jetcron audit {command.name}` shows whether "
                "anything was applied",
            )

    async def _withdrawn(self, sender: str | None, command_id: str) -> bool:
        """Whether the sender gave up on this command first (log/withdrawal.py): else it is
        ours to decide, and a sender that gives up from now on is told a replica has it."""
        nc = self.log.nc
        took = await withdrawal.take(nc, sender, command_id, withdrawal.APPLYING)
        # why: a key already "applying" is this command delivered again: decide it as before
        return took is False and await withdrawal.withdrawn(nc, sender, command_id)

    async def subscribe(self, nc: Client) -> object:
        """Serve jetcron.cmd.<verb> and jetcron.cmd.<user>.<verb> in the shared queue group."""
        return await nc.subscribe(
            subjects.command(">"), queue=subjects.COMMAND_QUEUE, cb=self.handle_request
        )


async def _failed(what: str, err: InfrastructureError) -> str:
    """What a sender is told of a command whose append failed: not applied, when that is known."""
    if ack_lost(err):
        await stuck.settled()  # why: whether the log is stuck is decided just after the timeout
    if storage_full(err) or (ack_lost(err) and STORAGE.since is not None):
        # why: refused (err 10023), or no ack from a log that takes no appends: not stored
        return f"`{what}` not applied: the log takes no appends ({STORAGE.cause}); send it again once it does"
    return str(err)
