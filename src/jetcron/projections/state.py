"""All views together: one position in the log, poison accounting (their snapshot: snapshot.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from operator import attrgetter
from typing import Any

import msgspec

from jetcron.domain.claims import CLAIMED, Claims, check_claimed, triggered
from jetcron.domain.claims import check as check_claims
from jetcron.domain.envelope import StoredEvent, event_type
from jetcron.domain.events import HealthAcknowledged, RunTriggered, ScheduleDeleted
from jetcron.log.decoding import poison_level
from jetcron.projections import (
    audit,
    calendars,
    forget,
    hosts,
    ledger_fold,
    notifications,
    refused,
    rollups,
    run_fold,
    schedule_fold,
    tables,
)
from jetcron.projections.audit import AuditView
from jetcron.projections.calendars import CalendarsView
from jetcron.projections.forget import DEFAULT_KEEP_DELETED
from jetcron.projections.hosts import HostsView
from jetcron.projections.ledger import LedgerView
from jetcron.projections.notifications import NotificationsView
from jetcron.projections.refused import RefusedView
from jetcron.projections.rollups import RollupsView
from jetcron.projections.runs import RunsView
from jetcron.projections.schedules import SchedulesView
from jetcron.projections.window import DEFAULT_KEEP

log = logging.getLogger(__name__)

MAX_POISON_SAMPLES = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


class PoisonSample(msgspec.Struct, frozen=True, array_like=True):
    """An event a view could not fold, and why."""

    seq: int
    type: str
    problem: str


class Views(msgspec.Struct, kw_only=True, gc=False):
    """Every view plus the last log sequence they reflect."""

    position: int = 0
    """Sequence of the last applied event; anything at or below it is a redelivery."""
    poison: int = 0
    """Events at least one view failed to fold (skipped, never retried)."""
    poison_samples: list[PoisonSample] = []
    schedules: SchedulesView = msgspec.field(default_factory=SchedulesView)
    runs: RunsView = msgspec.field(default_factory=RunsView)
    ledger: LedgerView = msgspec.field(default_factory=LedgerView)
    audit: AuditView = msgspec.field(default_factory=AuditView)
    notifications: NotificationsView = msgspec.field(default_factory=NotificationsView)
    hosts: HostsView = msgspec.field(default_factory=HostsView)
    rollups: RollupsView = msgspec.field(default_factory=RollupsView)
    calendars: CalendarsView = msgspec.field(default_factory=CalendarsView)
    keep: int = 0
    """Finished rows kept per schedule in runs, ledger, run audit entries and marks (0: all)."""
    keep_deleted: int = 0
    """Deleted schedules held, the most recently deleted (0: all; projections/forget.py)."""
    claims: Claims = msgspec.field(default_factory=Claims)
    """Who may write each run not yet final (domain/claims.py): the gate before every view."""
    rejected: int = 0
    """Run events written by someone who does not hold the run (ignored by every view)."""
    rejected_samples: list[PoisonSample] = []
    """The first MAX_POISON_SAMPLES of them since the last acknowledgement, with why."""
    poison_acknowledged: int = 0
    """`poison` when an operator last acknowledged (`health --ack`): health lists the rest."""
    rejected_acknowledged: int = 0
    """`rejected` when an operator last acknowledged."""
    refused: RefusedView = msgspec.field(default_factory=RefusedView)
    """Schedules whose latest definition no reader can handle (counted as poison too)."""


def acknowledge(views: Views, event: HealthAcknowledged, stored: StoredEvent) -> None:
    """`health --ack`: what was unreadable or rejected before it is known; start afresh."""
    views.poison_acknowledged, views.rejected_acknowledged = views.poison, views.rejected
    views.poison_samples, views.rejected_samples = [], []
    views.refused.by_name = {}  # why: known now; a refused create leaves no schedule to fix


def new_views(keep: int = DEFAULT_KEEP, keep_deleted: int = DEFAULT_KEEP_DELETED) -> Views:
    """Empty views that keep the last `keep` finished rows per schedule (0: every row) and
    the last `keep_deleted` deleted schedules (0: every one)."""
    views = Views(keep=keep, keep_deleted=keep_deleted)
    views.runs.keep = views.ledger.keep = views.audit.keep = views.schedules.keep = keep
    return views


def forget_deleted(views: Views, event: object, stored: StoredEvent) -> None:
    """Beyond `keep_deleted` deleted schedules, the oldest leave every view (forget.py)."""
    for sid in forget.due(views.schedules, views.runs, views.keep_deleted):
        name = forget.schedule(views.schedules, sid)
        forget.runs_of(views.runs, views.rollups, name, sid)
        forget.ledger_of(views.ledger, name, sid)
        forget.audit_of(views.audit, sid)


Route = tuple[Callable[[Any, Any, StoredEvent], None], Callable[[Views], Any]]


def _routes() -> dict[type, tuple[Route, ...]]:
    # why: one dict lookup per event finds exactly the folds that care about its type.
    tables = (
        ("schedules", schedule_fold.HANDLERS),
        ("runs", run_fold.HANDLERS),
        ("ledger", ledger_fold.HANDLERS),
        ("audit", audit.HANDLERS),
        ("notifications", notifications.HANDLERS),
        ("hosts", hosts.HANDLERS),
        ("rollups", rollups.HANDLERS),
        ("calendars", calendars.HANDLERS),
        ("refused", refused.HANDLERS),
    )
    routes: dict[type, list[Route]] = {}
    for field, handlers in tables:
        for event_cls, handler in handlers.items():
            routes.setdefault(event_cls, []).append((handler, attrgetter(field)))
    routes.setdefault(HealthAcknowledged, []).append((acknowledge, _itself))
    # why: last, so every view has folded the deletion first
    routes.setdefault(ScheduleDeleted, []).append((forget_deleted, _itself))
    return {cls: tuple(rs) for cls, rs in routes.items()}


def _itself(views: Views) -> Views:
    return views


_ROUTES = _routes()
_FREE, _CHECKED, _TRIGGER = 0, 1, 2
"""Claims gates: none, check_claimed, triggered (a refused event is not folded by either)."""
_GATES: dict[type, int] = {**dict.fromkeys(CLAIMED, _CHECKED), RunTriggered: _TRIGGER}
Plan = tuple[int, tuple[tuple[Callable[[Any, Any, StoredEvent], None], Any], ...]]
"""An event type's claims gate and its folds, each with its view."""


def _plan(views: Views, kind: type) -> Plan:
    routes = _ROUTES.get(kind, ())
    return _GATES.get(kind, _FREE), tuple((handler, view_of(views)) for handler, view_of in routes)


def apply(views: Views, stored: StoredEvent) -> None:
    """Fold one event into every view; redelivery is a no-op, a failing fold is poison."""
    seq = stored.seq
    if seq <= views.position:
        return
    event = stored.envelope.event
    if type(event) in _CLAIMED and _rejected(views, stored):
        views.position = seq
        return
    failed = False
    for handler, view_of in _ROUTES.get(type(event), ()):
        try:
            handler(view_of(views), event, stored)
        except Exception as err:  # why: one bad event must not stop the projection
            _poisoned(views, stored, err)
            failed = True
    if failed:
        views.poison += 1
    views.position = seq


def apply_batch(views: Views, batch: Iterable[StoredEvent]) -> int:
    """Fold events in order (same semantics as apply, faster); returns the new position."""
    # why: replay speed is a feature: one lookup per event finds its claims gate and its folds,
    # each fold's view bound once per batch, and only for the types the batch has (a live
    # follower folds a few events at a time)
    plans: dict[type, Plan] = {}
    position, claims, check, triggered_ = views.position, views.claims, check_claimed, triggered
    poisoned = 0
    # why: the last sequence counted as poison: an event counts once, however many views fail
    try:
        for stored in batch:
            seq = stored.seq
            if seq <= position:
                continue
            event: Any = stored.envelope.event
            kind = type(event)
            plan = plans.get(kind)
            if plan is None:
                plan = plans[kind] = _plan(views, kind)
            gate, folds = plan
            if gate:
                if gate == _TRIGGER:
                    problem = triggered_(claims, event, seq)
                else:
                    problem = check(claims, stored, event, kind)
                if problem is not None:
                    _reject(views, stored, problem)
                    position = seq
                    continue
            for handler, view in folds:
                try:
                    handler(view, event, stored)
                except Exception as err:  # why: one bad event must not stop the projection
                    _poisoned(views, stored, err)
                    if poisoned != seq:
                        views.poison += 1
                        poisoned = seq
            position = seq
    finally:
        # why: written once, not per event; no fold reads it, and an error escaping a batch
        # (a reader's) still leaves it at the last event folded
        views.position = position
    compact(views)
    return position


def compact(views: Views) -> None:
    """Hold the maps keyed by run or fire at the table size of what they keep.

    why: every run inserts a key into each and, once its schedule's window is full, deletes an
    older one: at a steady number of kept runs their tables would double once and stay so
    (tables.py). Checked after every batch (a few lookups); a map is copied into a fresh
    table just before it would fill, or when it outgrew its keys.
    """
    runs_, ledger_, schedules_, at = views.runs, views.ledger, views.schedules, views.position
    runs_.rows = tables.compact(runs_.rows, at)
    ledger_.entries = tables.compact(ledger_.entries, at)
    schedules_.marks = tables.compact(schedules_.marks, at)


def apply_until(views: Views, events: Iterable[StoredEvent], as_of: datetime | None) -> bool:
    """apply_batch on the events appended by `as_of` (all if None); False once a later one came.

    why: the server's append times grow with the sequence, so the first later event ends the
    history `--as-of` shows and a reader can stop there.
    """
    if as_of is None:
        apply_batch(views, events)
        return True
    limit, later = _ns(as_of), False

    def by_then(stored: StoredEvent) -> bool:
        nonlocal later
        later = _appended_ns(stored) > limit
        return not later

    apply_batch(views, takewhile(by_then, events))
    return not later


def replay(
    events: Iterable[StoredEvent],
    *,
    as_of: datetime | None = None,
    keep: int = 0,
    keep_deleted: int = 0,
) -> Views:
    """Fresh views from events in log order, up to the last one appended by `as_of` (`--as-of`)."""
    views = new_views(keep, keep_deleted)
    apply_until(views, events, as_of)
    return views


_CLAIMED = CLAIMED


def _rejected(views: Views, stored: StoredEvent) -> bool:
    """Whether the claims gate refuses this run event (then counted and sampled, not folded)."""
    problem = check_claims(views.claims, stored)
    if problem is None:
        return False
    _reject(views, stored, problem)
    return True


def _reject(views: Views, stored: StoredEvent, problem: str) -> None:
    views.rejected += 1
    if len(views.rejected_samples) < MAX_POISON_SAMPLES:
        views.rejected_samples.append(
            PoisonSample(stored.seq, event_type(stored.envelope.event), problem)
        )
    log.warning("run event seq=%d rejected: %s", stored.seq, problem)


def _ns(at: datetime) -> int:
    return (at - _EPOCH) // _ONE_US * 1000


def _appended_ns(stored: StoredEvent) -> int:
    # why: the server's append time is monotonic; envelope.at comes from producers' clocks.
    return stored.stored_ns or _ns(stored.envelope.at)


def record_undecodable(views: Views, seq: int, kind: str, problem: str, name: str = "") -> None:
    """Count an event no view could even decode (unknown type, malformed) as poison; `name`:
    the schedule whose definition it held, when that is what could not be handled."""
    if seq <= views.position:
        return
    views.poison += 1
    if name:
        refused.refuse(views.refused, name, seq, problem)
    if len(views.poison_samples) < MAX_POISON_SAMPLES:
        views.poison_samples.append(PoisonSample(seq, kind, problem))


def _poisoned(views: Views, stored: StoredEvent, err: Exception) -> None:
    kind = event_type(stored.envelope.event)
    problem = f"{type(err).__name__}: {err}"
    first = len(views.poison_samples) < MAX_POISON_SAMPLES
    log.log(
        poison_level(_appended_ns(stored)),
        "projection could not fold event seq=%d type=%s: %s",
        stored.seq,
        kind,
        problem,
        exc_info=first,
    )
    if first:
        views.poison_samples.append(PoisonSample(stored.seq, kind, problem))
