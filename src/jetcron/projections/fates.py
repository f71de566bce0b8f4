"""Fates of nominal fires: the spec's fire times in a window, the ledger and the lifecycle; pure.

A nominal fire either has a ledger entry (triggered, skipped, buffered, missed, and the run's
end: lost, cancelled, deferred) or it fell in a stretch where the schedule could not fire
(not yet created, paused). A fire with neither, while the schedule was active, is
`unrecorded`: the ticker owes the log an event for every fire, so that is a bug signal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from jetcron.domain.definition import MISSED_AFTER
from jetcron.domain.events import ScheduleStatus, status_after_update
from jetcron.domain.fires import fires_within
from jetcron.projections import fanout
from jetcron.projections.audit import AuditEntry
from jetcron.projections.ledger import LedgerEntry

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
PeriodState = ScheduleStatus
RUN_FATES: dict[str, Fate] = {"lost": "lost", "cancelled": "cancelled", "deferred": "deferred"}
"""Run statuses that are a fate of their own; every other status of a run is `triggered`."""
PENDING_GRACE = timedelta(minutes=2)
"""A fire this recent with no record yet is `pending`, not `unrecorded` (the ticker may be on it)."""


class Window(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The part of a definition that says when it fires (spec.Bounded)."""

    spec: str
    tz: str = "UTC"
    start: datetime | None = None
    end: datetime | None = None
    max_runs: int | None = None
    catchup: str = "latest"
    """Catch-up policy in force (latest, all, none)."""
    jitter_s: float = 0.0


class Evidence(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The stored event a statement rests on."""

    seq: int
    at: datetime
    actor: str
    what: str
    """The event type, e.g. `schedule.paused` or `fire.missed`."""


class Period(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A stretch of the schedule's life, from `start` (exclusive; None: the beginning)."""

    start: datetime | None
    state: PeriodState
    window: Window | None
    """The definition in force (for `absent` before creation: the first one)."""
    evidence: Evidence | None = None
    """The event that began the stretch."""
    reason: str = ""


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


def lifecycle(entries: Iterable[AuditEntry]) -> list[Period]:
    """The stretches of one schedule's life from its audit entries (oldest first)."""
    periods: list[Period] = []
    fields: dict[str, Any] = {}
    for e in entries:
        state = _STATE_AFTER.get(e.type)
        if state is None:
            continue  # why: run commands (manual triggers, cancels) do not change the lifecycle
        if e.type == "schedule.created":
            fields = {}
        fields.update({k: v[1] for k, v in e.diff.items()})
        evidence = Evidence(seq=e.seq, at=e.at, actor=e.actor, what=e.type)
        window = _window(fields)
        if not periods:
            periods.append(Period(start=None, state="absent", window=window))
        period = Period(start=e.at, state=state, window=window, evidence=evidence, reason=e.reason)
        if e.type == "schedule.updated":
            period = _updated(periods[-1], period, e.reopens)
        periods.append(period)
    return periods


_STATE_AFTER: dict[str, PeriodState] = {
    "schedule.created": "active",
    "schedule.updated": "active",
    "schedule.resumed": "active",
    "schedule.paused": "paused",
    "schedule.completed": "completed",
    "schedule.deleted": "deleted",
}
"""The state each lifecycle event leaves; an update's depends on the state it found (`_updated`)."""


def _updated(before: Period, update: Period, reopens: bool = True) -> Period:
    """The stretch an update begins: the new definition, in the state it found (the
    aggregate's rule, `status_after_update`). A pause goes on: still told by the pause and its
    reason, so the fires after the update are `paused` and the pause ends at the resume."""
    if before.state == "absent":
        return update  # why: the creation is outside our history; an update means it existed
    state = status_after_update(before.state, reopens)
    if state != "paused":
        return msgspec.structs.replace(update, state=state)
    return msgspec.structs.replace(
        update, state=state, evidence=before.evidence, reason=before.reason
    )


def _window(fields: Mapping[str, Any]) -> Window | None:
    if "spec" not in fields:
        return None  # why: the creation is outside our history (retention)
    return Window(
        spec=str(fields["spec"]),
        tz=str(fields.get("tz") or "UTC"),
        start=_instant(fields.get("start")),
        end=_instant(fields.get("end")),
        catchup=_catchup(fields),
        jitter_s=float(fields.get("jitter_s") or 0.0),
    )


def _catchup(fields: Mapping[str, Any]) -> str:
    # why: a creation's diff holds the whole catchup struct; an update's, its dotted fields
    nested = fields.get("catchup") or {}
    return str(fields.get("catchup.policy") or nested.get("policy") or "latest")


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def period_at(periods: Sequence[Period], when: datetime) -> Period | None:
    """The stretch a fire at `when` falls in: started strictly before it (a fire at a pause
    instant was still the active stretch's; a creation's own instant is not a fire of it)."""
    found = None
    for p in periods:
        if p.start is None or p.start < when:
            found = p
    return found


def earlier_schedule(periods: Sequence[Period], when: datetime) -> Period | None:
    """If a fire at `when` was of an earlier schedule of the name (deleted, the name created
    again since), the stretch of the latest creation; else None (the current schedule's, or
    from before the name's first schedule)."""
    p = period_at(periods, when)
    if p is None or p.state == "absent":
        return None
    made = [q for q in periods if q.evidence is not None and q.evidence.what == "schedule.created"]
    latest = made[-1] if made else None
    return (
        latest if latest is not None and latest.start is not None and latest.start >= when else None
    )


def nominal(
    periods: Sequence[Period], since: datetime, until: datetime, limit: int
) -> list[datetime]:
    """Fire times in (since, until] by the definition of each stretch, the oldest `limit`.

    Stretches after completion have no nominal fires, nor the one after the last deletion;
    the one before creation has the first definition's (so a window reaching back shows them
    as `not_created`), and one between a deletion and the name's next creation the deleted
    definition's (shown as `deleted`: the name's life, not a gap; newcomer19c #12).
    """
    out: set[datetime] = set()
    for i, p in enumerate(periods):
        if p.window is None or not _fires_in(periods, i):
            continue
        lo = since if p.start is None else max(since, p.start)
        hi = until if i + 1 == len(periods) else min(until, _start(periods[i + 1], until))
        if lo < hi:
            out.update(fires_within(p.window, lo, until=hi, limit=limit))
    return sorted(out)[:limit]


def latest_nominal(
    periods: Sequence[Period], since: datetime, until: datetime, cap: int
) -> tuple[list[datetime], datetime]:
    """The nominal fires of the latest part of (since, until] that holds fewer than `cap`,
    and where that part starts (`since` itself when the whole window fits)."""
    while True:
        times = nominal(periods, since, until, cap)
        if len(times) < cap:
            return times, since
        # why: fire times are found oldest first; halve the window from its old end until
        # the newest fires, the ones an operator asks about, fit
        since = until - (until - since) / 2


def _fires_in(periods: Sequence[Period], i: int) -> bool:
    """Whether the stretch `i` has nominal fires (see `nominal`)."""
    state = periods[i].state
    if state == "completed":
        return False
    if state != "deleted":
        return True
    # why: a completed schedule would not have fired before its deletion either
    return i + 1 < len(periods) and i > 0 and periods[i - 1].state != "completed"


def _start(period: Period, default: datetime) -> datetime:
    return default if period.start is None else period.start


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
        if e.outcome == "triggered" and e.recorded_at - e.fire_time > MISSED_AFTER
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
        late_s=(e.recorded_at - e.fire_time).total_seconds(),
        catchup=p.window.catchup if p is not None and p.window is not None else "",
        buffered_at=e.buffered_at,
        backfill_of=e.backfill_of,
        fanout=e.fanout,
        tally=fanout.tallied(e.members) if e.members else "",
        evidence=[Evidence(seq=e.seq, at=e.recorded_at, actor=e.actor, what=_what(e))],
    )
    fire.late_cause = late_cause(fire.late_s, e.fire_time, e.buffered_at)
    if e.result_seq and e.result_at is not None:
        what = f"run.{e.status}"
        fire.evidence.append(
            Evidence(seq=e.result_seq, at=e.result_at, actor=e.result_actor, what=what)
        )
    if e.outcome == "missed":
        fire.quiet_since = quiet_since.get(e.fire_time)
        fire.instead = _caught_up(e, late)
    return fire


def late_cause(late_s: float | None, fire: datetime, buffered_at: datetime | None) -> str:
    """Why a fire was recorded over 60 s late: `waited` (buffered while on time, it waited for
    the run before it, or for the queue of catch-up `all`), `catchup` (found late: the
    catch-up policy ran it); '' when it was not late. One rule for `why` and `fires`.

    why: a buffered fire is decided when it is buffered; `fires` labelled every fire over 60 s
    late "(catch-up latest)", also one that only waited (newcomer19b F8)."""
    if (late_s or 0.0) <= MISSED_AFTER.total_seconds():
        return ""
    found = late_s if buffered_at is None else (buffered_at - fire).total_seconds()
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


def resumed_after(periods: Sequence[Period], when: datetime) -> Evidence | None:
    """The event that ended the pause a fire at `when` fell in, if it ended (an update while
    paused does not: its stretch is paused too)."""
    later = (p for p in periods if p.start is not None and p.start >= when and p.state != "paused")
    nxt = next(later, None)
    return None if nxt is None else nxt.evidence
