"""A ticker checkpoint: TickerState as versioned msgpack bytes, and back.

One blob holds the state with the position it reflects, so a restored state is never half one.
"""

from __future__ import annotations

from datetime import timedelta

import msgspec

from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.claims import Claims
from jetcron.log.snapshots import unpack
from jetcron.scheduler.entry import Entry, Owed, restored
from jetcron.scheduler.orphans import Orphan
from jetcron.scheduler.state import LOST_GRACE, TickerState


class TickerSnapshot(msgspec.Struct, kw_only=True):
    """TickerState as stored: its position with everything folded up to it (a checkpoint)."""

    position: int
    ahead: list[int]
    """Sequences past `position` already applied (our own appends), skipped when read."""
    calendars: dict[str, CalendarDefinition]
    calendar_changes: int
    entries: list[Entry]
    claims: Claims = msgspec.field(default_factory=Claims)
    orphans: dict[str, Orphan] = {}
    retired: list[Entry] = []
    owed: dict[str, list[Owed]] = {}
    """Fates owed to fires due before a pause, update or delete (owed.py), by schedule id.

    why no new header: a map field; an older checkpoint has none (its code owed nothing) and
    older code ignores it."""
    unstarted: list[str] = []
    """TickerState.unstarted: runs in flight with no start folded yet.

    why no new header: an older checkpoint has none, so its runs in flight read as started
    until their next word (an overlap skip says "still in flight", as that code did: never a
    false "not started"); older code ignores it."""


_SNAPSHOT_HEADER = b"JCT\x00\x04"
"""Version 4: deleted schedules' entries with runs in flight (`retired`); version 3 put fan-out
members among the runs in flight (members.py); version 2 put entries and timings as arrays. An
older checkpoint is ignored: the ticker then folds from sequence 1 once (a version 3 state would
not know a deleted schedule's runs still in flight, nor a version 2 one the members running)."""
_snapshot_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(TickerSnapshot)


def snapshot_of(state: TickerState) -> bytes:
    """The state and its position as versioned msgpack bytes (one blob, so never half a state)."""
    record = TickerSnapshot(
        position=state.position,
        ahead=sorted(state.ahead),
        calendars=state.calendars,
        calendar_changes=state.calendar_changes,
        entries=list(state.entries.values()),
        claims=state.claims,
        orphans=state.orphans,
        retired=list(state.retired.values()),
        owed=state.owed,
        unstarted=sorted(state.unstarted),
    )
    return _SNAPSHOT_HEADER + _snapshot_encoder.encode(record)


def state_from(data: bytes, lost_grace: timedelta = LOST_GRACE) -> TickerState | None:
    """A TickerState from snapshot_of bytes; None if they are of another version or unreadable."""
    record = unpack(data, _SNAPSHOT_HEADER, _snapshot_decoder)
    if record is None:
        return None
    state = TickerState(lost_grace)
    state.position, state.calendar_changes = record.position, record.calendar_changes
    state.calendars, state.claims = record.calendars, record.claims
    state.orphans, state.owed = record.orphans, record.owed
    state.unstarted = set(record.unstarted)
    state.restore_ahead(record.ahead)
    for entry in record.entries:
        restored(entry)
        state.entries[entry.schedule_id] = entry
    for entry in record.retired:
        restored(entry)
        state.retired[entry.schedule_id] = entry
    return state
