"""The stored form of every event: the tagged union, the envelope, its codec and upcasting.

Decoding never raises: an envelope this reader cannot read is an UnknownEvent (a newer or
foreign type, a newer schema, garbage); an older schema is upcast before it is decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from jetcron.domain.events import (
    CalendarCreated,
    CalendarDeleted,
    CalendarReferenced,
    CalendarUpdated,
    Event,
    ExecutorOffline,
    ExecutorOnline,
    ExpectationMet,
    ExpectationMissed,
    FireBuffered,
    FireMissed,
    FireSkipCancelled,
    FireSkipPlanned,
    HealthAcknowledged,
    RunCancelled,
    RunCancelRequested,
    RunDeferred,
    RunFailed,
    RunHandedBack,
    RunLost,
    RunSkipped,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunTriggered,
    ScheduleCompleted,
    ScheduleCreated,
    ScheduleDeleted,
    SchedulePaused,
    ScheduleResumed,
    ScheduleUpdated,
    StatsRolledUp,
)
from jetcron.domain.notify_events import (
    NotificationAdded,
    NotificationRemoved,
    NotificationUpdated,
    NotifyDelivered,
    NotifyFailed,
    NotifyTest,
)
from jetcron.domain.stored import stored_problem

AnyEvent = (
    ScheduleCreated
    | ScheduleUpdated
    | SchedulePaused
    | ScheduleResumed
    | ScheduleCompleted
    | ScheduleDeleted
    | FireSkipPlanned
    | FireSkipCancelled
    | CalendarCreated
    | CalendarUpdated
    | CalendarDeleted
    | CalendarReferenced
    | RunTriggered
    | FireMissed
    | RunSkipped
    | FireBuffered
    | RunCancelRequested
    | RunStarted
    | RunSucceeded
    | RunFailed
    | RunTimedOut
    | RunCancelled
    | RunDeferred
    | RunHandedBack
    | RunLost
    | ExpectationMissed
    | ExpectationMet
    | ExecutorOffline
    | ExecutorOnline
    | NotificationAdded
    | NotificationUpdated
    | NotificationRemoved
    | NotifyTest
    | NotifyDelivered
    | NotifyFailed
    | StatsRolledUp
    | HealthAcknowledged
)


class Envelope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Who did what, when and why: the stored form of every event."""

    id: str
    at: datetime
    actor: str
    event: AnyEvent
    schema: int = 1
    reason: str = ""
    causation_id: str | None = None
    """The command (or event) that caused this one."""
    correlation_id: str | None = None
    on_behalf_of: str | None = None
    """The --actor an authenticated sender named (a note); `actor` is who sent it."""


def who(env: Envelope) -> str:
    """Who made a change, as every view shows it: the sender, and whom it acted for if it
    said so (`operator (on behalf of boss)`: the web gateway's NATS user for a token's)."""
    return f"{env.actor} (on behalf of {env.on_behalf_of})" if env.on_behalf_of else env.actor


class StoredEvent(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An envelope with its place in the log.

    why array_like: a reader decodes a chunk of them from one JSON array of
    `[seq, subject, envelope, stored_ns]` (decode_stored); nothing stores them otherwise.
    """

    seq: int
    subject: str
    envelope: Envelope
    stored_ns: int = 0
    """Server timestamp (ns since epoch) of the append, when known."""

    @property
    def event(self) -> AnyEvent:
        """The event itself."""
        return self.envelope.event


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)
_KNOWN_TAGS = frozenset(t.__struct_config__.tag for t in AnyEvent.__args__)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""(event type, stored schema) -> reshaper to schema + 1. Empty until a payload changes meaning."""
CURRENT_SCHEMA: dict[str, int] = {}
"""Event types whose schema is above 1."""


class UnknownEvent(msgspec.Struct, frozen=True):
    """An envelope this reader cannot decode: a newer or foreign event type, or garbage."""

    type: str
    problem: str
    name: str = ""
    """The schedule whose definition this event held, when that is why it is unreadable
    (`unhandled`); "" otherwise."""


def encode(envelope: Envelope) -> bytes:
    """The envelope as JSON bytes."""
    return _encoder.encode(envelope)


def decode(data: bytes) -> Envelope | UnknownEvent:
    """An envelope, upcast to the current schema, or UnknownEvent (never raises)."""
    try:
        envelope = _decoder.decode(data)
    except msgspec.DecodeError as err:
        return _decode_slow(data, err)
    # why: the common case (schema 1, no upcaster anywhere) without a tag lookup per event
    if (envelope.schema != 1 or CURRENT_SCHEMA) and envelope.schema != CURRENT_SCHEMA.get(
        str(envelope.event.__struct_config__.tag), 1
    ):
        return _decode_slow(data, None)
    event = envelope.event
    if type(event) is ScheduleCreated or type(event) is ScheduleUpdated:
        return unhandled(event) or envelope
    return envelope


_DEFINING = (ScheduleCreated, ScheduleUpdated)


def unhandled(event: ScheduleCreated | ScheduleUpdated) -> UnknownEvent | None:
    """An UnknownEvent if the definition this event holds cannot be handled, else None.

    why: the log may hold what today's validation refuses (an older jetcron, a raw client):
    an integer past 64 bits decodes from JSON but breaks msgpack, so the ticker could not
    fold it (the schedule silently never fired) and every snapshot and breaker checkpoint
    failed for good. Refused here, every reader skips it the same way and the projections
    count it as poison and name the schedule (health, show, fires, why).
    """
    problem = stored_problem(event.definition)
    if problem is None:
        return None
    return UnknownEvent(
        type=str(event.__struct_config__.tag),
        problem=f"its definition v{event.version} cannot be handled ({problem})",
        name=event.name,
    )


_stored_decoder = msgspec.json.Decoder(list[StoredEvent])
_TAKES_CARE = (b'"schema":', b'"schedule.')
"""What decode may have to look at (an upcast; a definition to check, in a schedule.created or
schedule.updated): a chunk holding one of these, anywhere, is left to decode event by event.

why so broad: each is one search of the chunk's bytes (~1 instruction a byte); a false alarm
(another schedule.* event, a key named schema in a job's params) only costs that chunk speed."""


def decode_stored(data: bytes) -> list[StoredEvent] | None:
    """Stored events from a JSON array of `[seq, subject, envelope JSON, stored_ns]`, or None
    when one of them may need what `decode` does beyond a plain decode (upcasting, a
    definition to check, an unknown type, garbage): then decode each with `decode`.

    why: a replay's read is bound by Python work per message; one msgspec call makes a whole
    chunk's events, and what decode adds is ruled out by a search of the bytes.
    """
    if CURRENT_SCHEMA or any(care in data for care in _TAKES_CARE):
        return None
    try:
        return _stored_decoder.decode(data)
    except msgspec.DecodeError:  # why: ValidationError is one
        return None


def _decode_slow(data: bytes, err: Exception | None) -> Envelope | UnknownEvent:
    # why: the fast path failed or met an old schema; look inside to say what it is.
    try:
        raw = msgspec.json.decode(data)
        event_type = str(raw["event"]["type"])
    except (msgspec.DecodeError, KeyError, TypeError):
        return UnknownEvent(type="?", problem=f"not a jetcron envelope: {err or 'bad JSON'}")
    if event_type not in _KNOWN_TAGS:
        return UnknownEvent(type=event_type, problem="unknown event type (newer jetcron?)")
    schema = raw.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool):
        return UnknownEvent(type=event_type, problem=f"bad schema {schema!r}")
    if schema > CURRENT_SCHEMA.get(event_type, 1):
        return UnknownEvent(type=event_type, problem=f"schema {schema} is newer than this reader")
    try:
        envelope = msgspec.convert(_upcast(raw, event_type), Envelope)
    except msgspec.ValidationError as verr:
        return UnknownEvent(type=event_type, problem=f"malformed event: {verr}")
    event = envelope.event
    if isinstance(event, _DEFINING):
        return unhandled(event) or envelope
    return envelope


def _upcast(raw: dict[str, Any], event_type: str) -> dict[str, Any]:
    schema = int(raw.get("schema", 1))
    while (step := UPCASTERS.get((event_type, schema))) is not None:
        raw["event"] = step(raw["event"])
        schema += 1
    raw["schema"] = schema
    return raw


def event_type(event: Event) -> str:
    """The stable tag of an event, e.g. 'schedule.created'."""
    return str(event.__struct_config__.tag)
