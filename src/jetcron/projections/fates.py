"""Fates of nominal fires: the spec's fire times in a window, the ledger and the lifecycle; pure.

A nominal fire either has a ledger entry (triggered, skipped, buffered, missed, and the run's
end: lost, cancelled, deferred) or it fell in a stretch where the schedule could not fire
(not yet created, paused). A fire with neither, while the schedule was active, is
`unrecorded`: the ticker owes the log an event for every fire, so that is a bug signal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from jetcron.domain.definition import MISSED_AFTER
from jetcron.domain.lateness import is_late, lateness_s
from jetcron.projections import fanout
from jetcron.projections.ledger import LedgerEntry
from jetcron.projections.lifecycle import Evidence, Period, period_at

Fate = Literal[
    "triggered",
    "skipped",
    "buffered",
    "missed",
    "lost",
    "cancelled",
    "deferred",
    "paused",
    "not_created",
    "deleted",
    "unrecorded",
    "forgotten",
    "pending",
    "upcoming",
]
RUN_FATES: dict[str, Fate] = {"lost": "lost", "cancelled": "cancelled", "deferred": "deferred"}
"""Run statuses that are a fate of their own; every other status of a run is `triggered`."""
PENDING_GRACE = timedelta(minutes=2)
"""A fire this recent with no record yet is `pending`, not `unrecorded` (the ticker may be on it)."""


class Fire(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """One nominal fire and its fate, with the events that tell it."""

    fire_time: datetime
    fate: Fate
    status: str = ""
    """The run's status (triggered fires)."""
    run_id: str = ""
    attempt: int = 0
    executor: str = ""
    reason: str = ""
    detail: str = ""
    blocking_run_id: str = ""
    late_s: float | None = None
    """How long after the fire time the ticker recorded it (when it is recorded)."""
    catchup: str = ""
    quiet_since: datetime | None = None
    """Missed fires: the last time the ticker recorded any fire before this one."""
    instead: datetime | None = None
    """Missed fires: the later fire the catch-up policy ran in the same tick."""
    buffered_at: datetime | None = None
    """Triggered after waiting behind another run (overlap buffer_one): since when."""
    late_cause: str = ""
    """Why it was recorded over 60 s late (late_cause()): `waited`, `catchup`, or ''."""
    evidence: list[Evidence] = []
    backfill_of: str = ""
    """The run shown is a backfill of this slot (`jetcron schedule backfill`)."""
    backfills: int = 0
    """How many backfills of this fire the ledger holds."""
    first_run_id: str = ""
    """A backfilled fire: the run the clock triggered for it first (its fate told before)."""
    first_status: str = ""
    first_detail: str = ""
    first_evidence: Evidence | None = None
    fanout: bool = False
    """Triggered to `all:<tag>`: status, executor and detail are its members' runs."""
    tally: str = ""
    """Fan-out: its members' outcomes, `1 failed, 1 succeeded; pi3: exit code 1` (fanout.tallied)."""


def fates(
    fire_times: Iterable[datetime],
    entries: Iterable[LedgerEntry],
    periods: Sequence[Period],
    *,
    now: datetime,
    quiet_since: Mapping[datetime, datetime] | None = None,
    kept_from: datetime | None = None,
    gone: Callable[[int], bool] | None = None,
) -> list[Fire]:
    """Every nominal fire and every recorded one, oldest first, each with its fate.

    `quiet_since` maps a missed fire's time to the last moment the ticker recorded any fire
    before it (the start of the outage, as far as the log can tell). `kept_from`: the oldest
    fire the views still hold once they keep only the last N of this schedule; an earlier
    fire with no entry is `forgotten` (its daily rollup counts it), not `unrecorded`.
    `gone(seq)`: whether the log no longer holds the event at seq (projections/aged.py): an
    entry whose event aged out makes its fire `forgotten` too, not shown citing a sequence
    the log no longer has (newcomer19c #2).
    """
    held, lapsed = _held(sorted(entries, key=lambda e: (e.fire_time, e.seq)), gone)
    recorded, backfills, firsts = _per_slot(held)
    by_time = {e.fire_time: e for e in recorded}
    late = [
        e
        for e in recorded
        if e.outcome == "triggered" and is_late(e.recorded_at, e.fire_time, e.jitter_s)
    ]
    out = [_recorded(e, late, periods, quiet_since or {}) for e in recorded]
    for fire in out:
        fire.backfills = backfills.get(fire.fire_time, 0)
        if (first := firsts.get(fire.fire_time)) is not None:
            fire.first_run_id, fire.first_status = first.run_id, first.status or first.outcome
            fire.first_detail = first.detail or first.reason
            fire.first_evidence = _evidence_of(first)
    out += [Fire(fire_time=t, fate="forgotten") for t in lapsed - by_time.keys()]
    unseen = set(fire_times) - by_time.keys() - lapsed
    out += [_unrecorded(t, periods, now, kept_from) for t in unseen]
    return sorted(out, key=lambda f: f.fire_time)


def _held(
    entries: list[LedgerEntry], gone: Callable[[int], bool] | None
) -> tuple[list[LedgerEntry], set[datetime]]:
    """The entries whose event the log still holds, and the fire times of those it does not."""
    if gone is None:
        return entries, set()
    lapsed = [e for e in entries if gone(e.seq)]
    if not lapsed:
        return entries, set()
    return [e for e in entries if not gone(e.seq)], {e.fire_time for e in lapsed}


def _per_slot(
    recorded: list[LedgerEntry],
) -> tuple[list[LedgerEntry], dict[datetime, int], dict[datetime, LedgerEntry]]:
    """The entries with a fire's latest backfill standing for the fire (one row per fire
    time), how many backfills each backfilled fire has, and its own first record (the
    clock's trigger, a miss, a skip) when the ledger still holds it."""
    if not any(e.backfill_of for e in recorded):
        return recorded, {}, {}
    latest: dict[datetime, LedgerEntry] = {}
    counts: dict[datetime, int] = {}
    for e in recorded:
        if e.backfill_of:
            latest[e.fire_time] = e  # why: sorted by seq within a fire time: the last wins
            counts[e.fire_time] = counts.get(e.fire_time, 0) + 1
    firsts = {e.fire_time: e for e in reversed(recorded) if e.fire_time in latest}
    firsts = {t: e for t, e in firsts.items() if not e.backfill_of}
    kept = [e for e in recorded if e.fire_time not in latest or latest[e.fire_time] is e]
    return kept, counts, firsts


def _recorded(
    e: LedgerEntry,
    late: Sequence[LedgerEntry],
    periods: Sequence[Period],
    quiet_since: Mapping[datetime, datetime],
) -> Fire:
    fate: Fate = e.outcome if e.outcome != "triggered" else RUN_FATES.get(e.status, "triggered")
    p = period_at(periods, e.fire_time)
    fire = Fire(
        fire_time=e.fire_time,
        fate=fate,
        status=e.status,
        run_id=e.run_id,
        attempt=e.attempt,
        executor=e.executor,
        reason=e.reason,
        detail=e.detail,
        blocking_run_id=e.blocking_run_id,
        late_s=lateness_s(e.recorded_at, e.fire_time, e.jitter_s),
        catchup=p.window.catchup if p is not None and p.window is not None else "",
        buffered_at=e.buffered_at,
        backfill_of=e.backfill_of,
        fanout=e.fanout,
        tally=fanout.tallied(e.members) if e.members else "",
        evidence=[Evidence(seq=e.seq, at=e.recorded_at, actor=e.actor, what=_what(e))],
    )
    fire.late_cause = late_cause(fire.late_s, e.fire_time, e.buffered_at, e.jitter_s)
    if e.result_seq and e.result_at is not None:
        what = f"run.{e.status}"
        fire.evidence.append(
            Evidence(seq=e.result_seq, at=e.result_at, actor=e.result_actor, what=what)
        )
    if e.outcome == "missed":
        fire.quiet_since = quiet_since.get(e.fire_time)
        fire.instead = _caught_up(e, late)
    return fire


def late_cause(
    late_s: float | None, fire: datetime, buffered_at: datetime | None, jitter_s: float = 0.0
) -> str:
    """Why a fire was recorded over 60 s late: `waited` (buffered while on time, it waited for
    the run before it, or for the queue of catch-up `all`), `catchup` (found late: the
    catch-up policy ran it); '' when it was not late. One rule for `why` and `fires`; late
    counts from when the fire was due, its jitter (`jitter_s`) included (domain/lateness.py).

    why: a buffered fire is decided when it is buffered; `fires` labelled every fire over 60 s
    late "(catch-up latest)", also one that only waited (newcomer19b F8)."""
    if (late_s or 0.0) <= MISSED_AFTER.total_seconds():
        return ""
    found = late_s if buffered_at is None else lateness_s(buffered_at, fire, jitter_s)
    return "waited" if (found or 0.0) <= MISSED_AFTER.total_seconds() else "catchup"


def _evidence_of(e: LedgerEntry) -> Evidence:
    return Evidence(seq=e.seq, at=e.recorded_at, actor=e.actor, what=_what(e))


def _what(e: LedgerEntry) -> str:
    return {
        "triggered": "run.triggered",
        "missed": "fire.missed",
        "skipped": "fire.skipped",
        "buffered": "fire.buffered",
    }[e.outcome]


def _caught_up(missed: LedgerEntry, late: Sequence[LedgerEntry]) -> datetime | None:
    """The later fire the catch-up policy triggered (late) in the tick that recorded this miss."""
    # why: the ticker records a tick's misses and its catch-up trigger together, so they
    # are stored moments apart
    for e in late:
        if (
            e.fire_time > missed.fire_time
            and abs(e.recorded_at - missed.recorded_at) <= MISSED_AFTER
        ):
            return e.fire_time
    return None


def _unrecorded(
    when: datetime, periods: Sequence[Period], now: datetime, kept_from: datetime | None
) -> Fire:
    if when > now:
        return Fire(fire_time=when, fate="upcoming")
    p = period_at(periods, when)
    if p is None or p.state == "absent":
        first = next((q for q in periods if q.evidence is not None), None)
        return Fire(fire_time=when, fate="not_created", evidence=_of(first))
    if p.state == "paused":
        return Fire(fire_time=when, fate="paused", reason=p.reason, evidence=_of(p))
    if p.state == "deleted":
        # why: between a deletion and the name's next creation (nominal): by whom, and who
        # created it again
        again = next((q for q in periods if q.start is not None and q.start >= when), None)
        told = _of(p) + _of(again)
        return Fire(fire_time=when, fate="deleted", reason=p.reason, evidence=told)
    if kept_from is not None and when < kept_from:
        # why: after the lifecycle: a fire before the creation or in a pause never existed,
        # so nothing of it was forgotten and no day's statistics count it
        return Fire(fire_time=when, fate="forgotten")
    jitter = timedelta(seconds=p.window.jitter_s if p.window is not None else 0.0)
    # why: a jittered fire is triggered up to its jitter after the nominal time
    if now - when <= PENDING_GRACE + jitter:
        return Fire(fire_time=when, fate="pending")
    return Fire(fire_time=when, fate="unrecorded", evidence=_of(p))


def _of(period: Period | None) -> list[Evidence]:
    return [] if period is None or period.evidence is None else [period.evidence]
