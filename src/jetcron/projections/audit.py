"""Audit view: every schedule change with actor, reason and a field-level diff.

Operators' run commands are changes an auditor wants too: manual triggers and cancel
requests are entries of their own (type `run.triggered` / `run.cancel_requested`, with the run id);
so are notification sinks added, updated, removed or tested (`notify.*`, the sink's name, its
rules and where it sends as the diff, never its secret) and `health --ack` (`health.acknowledged`).
"""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.definition import SECRET_REF, ScheduleDefinition
from jetcron.domain.envelope import StoredEvent, event_type, who
from jetcron.domain.events import (
    CalendarCreated,
    CalendarDeleted,
    CalendarEvent,
    CalendarUpdated,
    FireSkipCancelled,
    FireSkipPlanned,
    HealthAcknowledged,
    RunCancelRequested,
    RunTriggered,
    ScheduleCompleted,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleEvent,
    SchedulePaused,
    ScheduleResumed,
    ScheduleUpdated,
)
from jetcron.domain.notifications import Notification
from jetcron.domain.notify_events import (
    NotificationAdded,
    NotificationRemoved,
    NotificationUpdated,
    NotifyTest,
)
from jetcron.projections.window import push

Diff = dict[str, list[Any]]
"""Dotted field -> [old, new], values as JSON-ready builtins."""


class AuditEntry(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """One schedule event as an operator reads it."""

    seq: int
    at: datetime
    actor: str
    type: str
    """The event tag, e.g. `schedule.updated`."""
    name: str
    schedule_id: str
    version: int = 0
    """The schedule version the change produced (a run command: the version it ran under)."""
    reason: str = ""
    diff: Diff = {}
    """Created: every field not at its default as [None, value]; updated: changed fields."""
    run_id: str = ""
    """The run a manual trigger started or a cancel request stopped."""
    backfill: bool = False
    """A run.triggered of `schedule backfill` (not `schedule trigger`): `audit` says so."""
    reopens: bool = True
    """An update: whether it reopened the schedule if it was completed (ScheduleUpdated)."""


class Incarnation(msgspec.Struct, gc=False, array_like=True):
    """The latest version and definition of one schedule_id, to diff the next update against."""

    version: int
    definition: ScheduleDefinition | None = None
    """None when the creation is outside our history (retention)."""
    seq: int = 0
    """Sequence of its first entry (where projections/forget.py starts looking for them)."""


class AuditView(msgspec.Struct, kw_only=True, gc=False):
    """Audit entries in log order."""

    entries: list[AuditEntry] = []
    known: dict[str, Incarnation] = {}
    triggered: dict[str, None] = {}
    """Run ids of manual triggers already recorded (a redelivered trigger is one entry).

    why a dict, not a set: it keeps the fold's order, so live and rebuilt views (other
    processes, other hash seeds) serialise the same and `replay --verify` compares equal."""
    keep: int = 0
    """Run entries (manual triggers, cancel requests) kept per schedule (0: all); schedule
    changes are always kept."""
    run_entries: dict[str, list[str]] = {}
    """schedule_id -> sequences (as text) of its run entries, oldest first."""
    calendars: dict[str, CalendarDefinition] = {}
    """Live calendars' definitions by name, to diff the next update against."""
    notifications: dict[str, Notification] = {}
    """Live notifications by name, to diff the next update against."""


SYSTEM_ACTOR = "system"
"""jetcron's own actors are `system` and `system:<part>` (breaker, ticker)."""


def query(
    view: AuditView,
    name: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    *,
    schedules: bool = False,
) -> list[AuditEntry]:
    """Entries oldest first, optionally of one name and at or after `since`; `schedules`:
    only a schedule's (not a calendar's, a sink's or an ack of that name)."""
    out = [
        e
        for e in view.entries
        if (name is None or e.name == name)
        and (since is None or e.at >= since)
        and (not schedules or e.schedule_id)
    ]
    return out if limit is None else out[-limit:]


def diff(
    old: ScheduleDefinition | CalendarDefinition | None,
    new: ScheduleDefinition | CalendarDefinition,
) -> Diff:
    """Changed fields as {field: [old, new]}, one level into nested structs (`job.command`)."""
    if old is None:
        return {k: [None, v] for k, v in _set_fields(new).items()}
    out: Diff = {}
    for field in new.__struct_fields__:
        a, b = getattr(old, field), getattr(new, field)
        if a == b:
            continue
        if isinstance(a, msgspec.Struct) and type(a) is type(b):
            for sub in a.__struct_fields__:
                x, y = getattr(a, sub), getattr(b, sub)
                if x != y:
                    out[f"{field}.{sub}"] = [msgspec.to_builtins(x), msgspec.to_builtins(y)]
        else:
            out[field] = [msgspec.to_builtins(a), msgspec.to_builtins(b)]
    return out


@functools.cache
def _defaults(cls: type[ScheduleDefinition | CalendarDefinition]) -> tuple[tuple[str, Any], ...]:
    """(field, default) of a definition type; NODEFAULT for a required field."""
    # why: msgspec resolves the annotations on every call (~1 ms here), and a default factory
    # makes a new object per call: once per type, not per event (a fleet's creations replay)
    out = []
    for f in msgspec.structs.fields(cls):
        if f.default is not msgspec.NODEFAULT:
            default = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            default = f.default_factory()
        else:
            default = msgspec.NODEFAULT  # why: a required field is always worth showing
        out.append((f.name, default))
    return tuple(out)


def _set_fields(d: ScheduleDefinition | CalendarDefinition) -> dict[str, Any]:
    """The fields of a definition that differ from their defaults, as builtins."""
    out = {}
    for name, default in _defaults(type(d)):
        value = getattr(d, name)
        if value != default:
            out[name] = msgspec.to_builtins(value)
    return out


def _on_schedule_event(view: AuditView, event: ScheduleEvent, stored: StoredEvent) -> None:
    known = view.known.get(event.schedule_id)
    if known is not None and event.version <= known.version:
        return  # why: a duplicate of an event already recorded (versions only grow)
    changes: Diff = {}
    if known is None:
        known = view.known[event.schedule_id] = Incarnation(event.version, seq=stored.seq)
    definition = getattr(event, "definition", None)
    if isinstance(definition, ScheduleDefinition):
        changes = diff(known.definition, definition)
        known.definition = definition
    elif isinstance(event, FireSkipPlanned | FireSkipCancelled):
        # why: the audit line says which fire; `skip: - → 2026-12-24T02:00:00Z`
        when = event.fire_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
        changes = {"skip": [None, when] if isinstance(event, FireSkipPlanned) else [when, None]}
    known.version = event.version
    view.entries.append(_change(event, stored, event.schedule_id, changes))


def _change(
    event: ScheduleEvent | CalendarEvent, stored: StoredEvent, schedule_id: str, changes: Diff
) -> AuditEntry:
    env = stored.envelope
    return AuditEntry(
        seq=stored.seq,
        at=env.at,
        actor=who(env),
        type=event_type(event),
        name=event.name,
        schedule_id=schedule_id,
        version=event.version,
        reason=env.reason or getattr(event, "reason", ""),
        diff=changes,
        reopens=getattr(event, "reopens", True),
    )


def _on_calendar_event(view: AuditView, event: CalendarEvent, stored: StoredEvent) -> None:
    """A calendar change: type `calendar.*`, the calendar's name, no schedule id."""
    changes: Diff = {}
    if isinstance(event, CalendarCreated | CalendarUpdated):
        old = view.calendars.get(event.name) if isinstance(event, CalendarUpdated) else None
        changes = diff(old, event.definition)
        view.calendars[event.name] = event.definition
    else:
        view.calendars.pop(event.name, None)
    view.entries.append(_change(event, stored, "", changes))


def _on_operations(
    view: AuditView,
    event: NotificationAdded
    | NotificationUpdated
    | NotificationRemoved
    | NotifyTest
    | HealthAcknowledged,
    stored: StoredEvent,
) -> None:
    """A sink added, updated, removed or tested, or a `health --ack`: by its name, no schedule
    id."""
    changes: Diff = {}
    if isinstance(event, NotificationAdded | NotificationUpdated):
        old = view.notifications.get(event.name) if isinstance(event, NotificationUpdated) else None
        changes = _sink_diff(old, event.notification)
        view.notifications[event.name] = event.notification
    elif isinstance(event, NotificationRemoved):
        view.notifications.pop(event.name, None)
    env = stored.envelope
    view.entries.append(
        AuditEntry(
            seq=stored.seq,
            at=env.at,
            actor=who(env),
            type=event_type(event),
            name=event.name,
            schedule_id="",
            reason=env.reason,
            diff=changes,
        )
    )


def _sink_diff(old: Notification | None, new: Notification) -> Diff:
    """Where a sink sends and its rules, flat, as {field: [old, new]}; that it is signed (and
    the reference of a new signing key), never the key itself."""
    a, b = _sink_fields(old) if old else {}, _sink_fields(new)
    out: Diff = {k: [a.get(k), v] for k, v in b.items() if a.get(k) != v}
    out.update({k: [v, None] for k, v in a.items() if k not in b})
    if old and old.sink.secret and new.sink.secret and old.sink.secret != new.sink.secret:
        out["secret"] = [_key_ref(old.sink.secret), _key_ref(new.sink.secret)]
    return out


def _key_ref(secret: str) -> str:
    """A signing key's reference (`kv:<key>`); a value (logs from before the bucket) as such."""
    return secret if secret.startswith(SECRET_REF) else "(a value in the log)"


def _sink_fields(n: Notification) -> dict[str, Any]:
    sink = {k: v for k, v in msgspec.to_builtins(n.sink).items() if k != "secret"}
    rules = {k: v for k, v in msgspec.to_builtins(n).items() if k not in ("name", "sink")}
    return {**sink, **rules, **({"signed": True} if n.sink.secret else {})}


def _on_manual_trigger(view: AuditView, event: RunTriggered, stored: StoredEvent) -> None:
    # why: event.forced inline (a property is a Python call): once per run in the replay hot loop
    if not (event.manual or event.backfill_of) or event.run_id in view.triggered:
        return  # why: clock triggers are the schedule doing its job, not a change
    view.triggered[event.run_id] = None
    _add_run_entry(view, _run_entry(event, stored, event.run_id, event.version))


def _on_cancel_requested(view: AuditView, event: RunCancelRequested, stored: StoredEvent) -> None:
    actor = stored.envelope.actor
    if actor == SYSTEM_ACTOR or actor.startswith(SYSTEM_ACTOR + ":"):
        return  # why: overlap cancel_previous is the policy at work, not an operator's act
    _add_run_entry(view, _run_entry(event, stored, event.run_id, 0))


def _add_run_entry(view: AuditView, entry: AuditEntry) -> None:
    """Append a run entry; the schedule's oldest run entry beyond `keep` goes."""
    view.entries.append(entry)
    evicted = push(view.run_entries, entry.schedule_id, str(entry.seq), view.keep)
    if evicted is None:
        return
    # why: entries are in log order, so the evicted one is found by its sequence
    i = bisect_left(view.entries, int(evicted), key=_seq)
    if i < len(view.entries) and view.entries[i].seq == int(evicted):
        old = view.entries.pop(i)
        if old.type == "run.triggered":
            view.triggered.pop(old.run_id, None)


def _seq(entry: AuditEntry) -> int:
    return entry.seq


def _run_entry(
    event: RunTriggered | RunCancelRequested, stored: StoredEvent, run_id: str, version: int
) -> AuditEntry:
    env = stored.envelope
    return AuditEntry(
        seq=stored.seq,
        at=env.at,
        actor=who(env),
        type=event_type(event),
        name=event.name,
        schedule_id=event.schedule_id,
        version=version,
        reason=env.reason or getattr(event, "reason", ""),
        run_id=run_id,
        backfill=bool(getattr(event, "backfill_of", "")),
    )


Handler = Callable[[AuditView, Any, StoredEvent], None]
HANDLERS: dict[type, Handler] = {
    ScheduleCreated: _on_schedule_event,
    ScheduleUpdated: _on_schedule_event,
    SchedulePaused: _on_schedule_event,
    ScheduleResumed: _on_schedule_event,
    ScheduleCompleted: _on_schedule_event,
    ScheduleDeleted: _on_schedule_event,
    FireSkipPlanned: _on_schedule_event,
    CalendarCreated: _on_calendar_event,
    CalendarUpdated: _on_calendar_event,
    CalendarDeleted: _on_calendar_event,
    FireSkipCancelled: _on_schedule_event,
    RunTriggered: _on_manual_trigger,
    RunCancelRequested: _on_cancel_requested,
    NotificationAdded: _on_operations,
    NotificationUpdated: _on_operations,
    NotificationRemoved: _on_operations,
    NotifyTest: _on_operations,
    HealthAcknowledged: _on_operations,
}
"""Event type -> fold step; the container routes events through this table."""
