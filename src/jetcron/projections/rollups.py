"""Rollups view: daily statistics per schedule, folded from `stats.rolled_up` (kept forever).

What is due for a rollup (`due`) is pure: the runs view's open days whose UTC day ended more
than a grace period ago. The leader appends one event per (schedule, day) with a Nats-Msg-Id of
both, so two leaders store one; should a second one land anyway (after the dedupe window), the
first rollup of a day wins here, as the first final outcome of a run wins in the runs view.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import msgspec

from jetcron.domain import digest
from jetcron.domain.digest import Digest
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import StatsRolledUp
from jetcron.log.retention import MAX_RETENTION_DAYS, MAX_RETENTION_S
from jetcron.projections import tables
from jetcron.projections.runs import OpenDay, RunsView

DAYS_KEPT = 400
"""Rolled-up days per schedule held in memory (older ones stay in the log); `stats` spans these."""
K = TypeVar("K", str, int)
DEFAULT_GRACE = timedelta(hours=1)
"""How long after a UTC day ends its late results still count before the day is rolled up."""
MIN_RETENTION = timedelta(days=2)
"""The shortest run-history retention (`--retention`, `ServiceConfig.retention_s`).

why: the open UTC day's statistics live only in the views (and their snapshots) until its
rollup, the day + DEFAULT_GRACE after its first run (up to 25 h); a replica that refolds the
log after its runs aged out rebuilds the day from what is left, so `stats` undercounts and
replicas disagree. The second day is margin for a leader that is down at rollup time."""


def retention_problem(seconds: int) -> str | None:
    """Why a retention (0: forever) is refused; None if it is fine (the rules: MIN_RETENTION,
    retention.MAX_RETENTION_S)."""
    if seconds > MAX_RETENTION_S:
        return (
            f"at most {MAX_RETENTION_DAYS}d (10 years), or 'forever': nats-server deletes "
            "events with a much longer TTL as soon as they are stored"
        )
    if seconds == 0 or seconds >= MIN_RETENTION.total_seconds():
        return None
    return (
        f"at least {MIN_RETENTION.days}d, or 'forever': run events must outlive their UTC day's "
        "rollup (a day + 1 h), or `stats` undercounts that day and replicas disagree"
    )


class RollupsView(msgspec.Struct, kw_only=True, gc=False):
    """schedule_id -> day (`YYYY-MM-DD`) -> digest of that day's final runs, days in fold order."""

    days: dict[str, dict[str, bytes]] = {}
    """why packed (digest.pack): 2,000 schedules x 400 days are 800k digests, ~650 MiB as
    objects, ~130 MiB as bytes; a query unpacks only the days it spans."""
    names: dict[str, str] = {}
    """schedule_id -> the schedule name of its latest rollup."""
    totals: dict[str, Digest] = {}
    """schedule_id -> its days merged (why: `stats` reads one digest per schedule, not 400)."""
    latest: dict[str, str] = {}
    """schedule_id -> its latest day held."""
    forgotten: Digest = msgspec.field(default_factory=Digest)
    """Deleted schedules the views no longer hold (projections/forget.py): their rolled-up
    days and the final runs no day covered, merged, so `stats` over all history counts them."""


def msg_id(schedule_id: str, day: str) -> str:
    """The dedupe id of one rollup: one per schedule and day, whoever appends it."""
    return f"rollup:{schedule_id}:{day}"


def due(runs: RunsView, now: datetime, grace: timedelta = DEFAULT_GRACE) -> list[OpenDay]:
    """Open days whose UTC day ended at least `grace` before `now`, oldest day first."""
    cutoff = (now - grace).astimezone(UTC).date()
    return sorted(
        (d for d in runs.days.values() if date.fromisoformat(d.day) < cutoff),
        key=lambda d: (d.day, d.schedule_id),
    )


def digests(
    view: RollupsView, schedule_id: str | None, start: datetime | None, end: datetime
) -> Iterator[tuple[str, str, Digest]]:
    """(schedule_id, day, digest) of rolled-up days that overlap (start, end] (all if no start)."""
    first = start.astimezone(UTC).date().isoformat() if start is not None else ""
    last = end.astimezone(UTC).date().isoformat()
    ids = [schedule_id] if schedule_id is not None else list(view.days)
    for sid in ids:
        for day, packed in view.days.get(sid, {}).items():
            if first <= day <= last:
                yield sid, day, digest.unpack(packed)


def day_digest(view: RollupsView, schedule_id: str, day: str) -> Digest | None:
    """The rolled-up digest of one schedule's day, if held."""
    packed = view.days.get(schedule_id, {}).get(day)
    return None if packed is None else digest.unpack(packed)


def _on_rolled_up(view: RollupsView, event: StatsRolledUp, stored: StoredEvent) -> None:
    days = view.days.get(event.schedule_id)
    if days is None:
        days = view.days[event.schedule_id] = {}
    if event.day in days:
        return  # why: the first rollup of a day wins (a second leader's, past the dedupe window)
    # why: 400 distinct days across every schedule: one string each, not one per schedule-day
    days[sys.intern(event.day)] = digest.pack(event.digest)
    view.names[event.schedule_id] = event.name
    sid = event.schedule_id
    total = view.totals.get(sid)
    view.totals[sid] = digest.merge((event.digest,) if total is None else (total, event.digest))
    view.latest[sid] = max(view.latest.get(sid, ""), event.day)
    if len(days) > DAYS_KEPT:
        oldest = min(days)
        gone = digest.unpack(days.pop(oldest))
        view.totals[sid] = _without(view.totals[sid], gone, map(digest.unpack, days.values()))
        # why: a day in, a day out, every day: the table would double once and stay (tables.py)
        view.days[sid] = tables.compact(days)


def _without(total: Digest, gone: Digest, rest: Iterable[Digest]) -> Digest:
    """`total` less one of the digests merged into it; `rest`: the others."""
    out = Digest(
        by_status=_less(total.by_status, gone.by_status),
        durations=_less(total.durations, gone.durations),
        lateness=_less(total.lateness, gone.lateness),
    )
    # why: a maximum cannot be subtracted; the others' maxima give it (400 at most)
    kept = digest.merge(
        Digest(
            duration_max=d.duration_max, last_success=d.last_success, last_failure=d.last_failure
        )
        for d in rest
    )
    out.duration_max, out.last_success = kept.duration_max, kept.last_success
    out.last_failure = kept.last_failure
    return out


def _less(a: dict[K, int], b: dict[K, int]) -> dict[K, int]:
    out = dict(a)
    for k, n in b.items():
        left = out.get(k, 0) - n
        if left:
            out[k] = left
        else:
            out.pop(k, None)
    return out


Handler = Callable[[RollupsView, Any, StoredEvent], None]
HANDLERS: dict[type, Handler] = {StatsRolledUp: _on_rolled_up}
"""Event type -> fold step; the container routes events through this table."""
