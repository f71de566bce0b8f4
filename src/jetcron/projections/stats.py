"""Run statistics: counts, success rate and duration/lateness percentiles.

From the runs view's rows (exact percentiles), merged with daily rollups for the days that
were rolled up (then percentiles come from the rollups' buckets: at most ~19 % high).
Statistics over all history (no window) read what the fold keeps per schedule and executor
(`stats_alltime.everything`), so they cost O(schedules), not O(runs kept).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, time, timedelta
from typing import Literal

import msgspec

from jetcron.domain import digest
from jetcron.domain.digest import Digest
from jetcron.domain.runs import FANNED_OUT
from jetcron.projections import rollups, tallies
from jetcron.projections.rollups import RollupsView
from jetcron.projections.runs import FAILED_STATUSES, FINAL_STATUSES, RunRow, RunsView

Group = Literal["schedule", "executor", "overall"]
GROUPS: tuple[Group, ...] = ("overall", "schedule", "executor")
NO_EXECUTOR = tallies.NO_EXECUTOR
"""Group key for runs no executor has picked up yet."""
_TIMED = digest.TIMED


class StatsRow(msgspec.Struct, kw_only=True):
    """Statistics of one group of runs."""

    key: str
    """Schedule name, executor name, or `overall`."""
    runs: int = 0
    """Runs in the group; skipped fires are counted only in by_status."""
    by_status: dict[str, int] = {}
    finished: int = 0
    """Succeeded + failed + timed out + lost: the success-rate denominator."""
    success_rate: float | None = None
    duration_p50: float | None = None
    duration_p95: float | None = None
    duration_max: float | None = None
    lateness_p50: float | None = None
    lateness_p99: float | None = None
    last_success: datetime | None = None
    last_failure: datetime | None = None
    group: str = ""
    """`overall`, `schedule` or `executor` in a `stats` answer."""
    bounded: bool = False
    """Its percentiles are bucket upper bounds (from day digests: never low, at most ~19 % high);
    False: exact, from the runs themselves."""


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile (an observed value) of sorted `values`; None if empty."""
    # why: nearest-rank is exact and never invents a duration no run had.
    if not values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(values)))
    return values[min(rank, len(values)) - 1]


def compute(
    runs_view: RunsView,
    *,
    now: datetime,
    window: timedelta | None = None,
    group: Group = "schedule",
    schedule: str | None = None,
    schedule_id: str | None = None,
) -> list[StatsRow]:
    """Statistics per group, sorted by key; `window` keeps runs fired in (now - window, now]
    (`schedule_id`: of that incarnation of the `schedule` name only)."""
    groups: dict[str, list[RunRow]] = {}
    for row in _select(runs_view, now, window, schedule, schedule_id):
        groups.setdefault(_key(row, group), []).append(row)
    return [summarize(key, rows) for key, rows in sorted(groups.items())]


def summarize(key: str, rows: Iterable[RunRow]) -> StatsRow:
    """Statistics of one group of runs."""
    out = StatsRow(key=key)
    durations: list[float] = []
    lateness: list[float] = []
    for row in rows:
        _count(out, row)
        if row.status in _TIMED and row.duration_s is not None:
            durations.append(row.duration_s)
        if row.lateness_s is not None:
            lateness.append(row.lateness_s)
    durations.sort()
    lateness.sort()
    succeeded = out.by_status.get("succeeded", 0)
    out.success_rate = succeeded / out.finished if out.finished else None
    out.duration_p50 = percentile(durations, 50)
    out.duration_p95 = percentile(durations, 95)
    out.duration_max = durations[-1] if durations else None
    out.lateness_p50 = percentile(lateness, 50)
    out.lateness_p99 = percentile(lateness, 99)
    return out


def _count(out: StatsRow, row: RunRow) -> None:
    out.by_status[row.status] = out.by_status.get(row.status, 0) + 1
    if row.status == "skipped":
        return
    out.runs += 1
    at = row.finished_at
    if row.status == "succeeded":
        out.finished += 1
        if at is not None and (out.last_success is None or at > out.last_success):
            out.last_success = at
    elif row.status in FAILED_STATUSES:
        out.finished += 1
        if at is not None and (out.last_failure is None or at > out.last_failure):
            out.last_failure = at


def compute_merged(
    runs_view: RunsView,
    rollups_view: RollupsView,
    *,
    now: datetime,
    window: timedelta | None = None,
    group: Group = "schedule",
    schedule: str | None = None,
    schedule_id: str | None = None,
) -> list[StatsRow]:
    """Statistics per group, complete even where the runs view keeps only the last N rows.

    Whole UTC days that begin inside the window come from their digests (the rollup of a
    rolled-up day, else the runs view's open day); the partial first day and runs in flight
    come from live rows. While every row of the window is still held (no rollup, no full
    window), this is `compute`: exact percentiles. Rollups know no executor, so `executor`
    groups always come from live rows.
    """
    return compute_groups(
        runs_view,
        rollups_view,
        now=now,
        window=window,
        groups=(group,),
        schedule=schedule,
        schedule_id=schedule_id,
    )[group]


def compute_groups(
    runs_view: RunsView,
    rollups_view: RollupsView,
    *,
    now: datetime,
    window: timedelta | None = None,
    groups: Sequence[Group] = GROUPS,
    schedule: str | None = None,
    schedule_id: str | None = None,
) -> dict[Group, list[StatsRow]]:
    """`compute_merged` for several groups in one walk over the rows (`stats --window`)."""
    start = now - window if window is not None else None
    days = list(_day_digests(runs_view, rollups_view, start, now, schedule, schedule_id))
    merged = bool(days) and _rows_incomplete(runs_view, rollups_view, schedule)
    # why: per group, either the rows themselves (exact) or digests of the days and loose rows
    rows: dict[Group, dict[str, list[RunRow]]] = {
        g: {} for g in groups if g == "executor" or not merged
    }
    sums: dict[Group, dict[str, Digest]] = {g: {} for g in groups if g not in rows}
    for g, by_key in sums.items():
        for _, _, name, d in days:
            key = name if g == "schedule" else "overall"
            by_key[key] = digest.merge((by_key[key], d)) if key in by_key else digest.merge((d,))
    covered = {(sid, day) for sid, day, _, _ in days} if sums else set()
    for row in _select(runs_view, now, window, schedule, schedule_id):
        for g, rows_by_key in rows.items():
            rows_by_key.setdefault(_key(row, g), []).append(row)
        if sums and (
            row.status not in FINAL_STATUSES
            or (row.schedule_id, digest.day_of(row.fire_time)) not in covered
        ):
            for g, by_key in sums.items():
                key = _key(row, g)
                add_row(by_key[key] if key in by_key else by_key.setdefault(key, Digest()), row)
    out = {g: [summarize(k, rs) for k, rs in sorted(by.items())] for g, by in rows.items()}
    for g, by_key in sums.items():
        out[g] = [from_digest(key, d) for key, d in sorted(by_key.items())]
    if "schedule" in sums:
        out["schedule"] = exact_where_held(
            out["schedule"], runs_view, rollups_view, now, window, schedule_id
        )
    return out


def exact_where_held(
    rows: list[StatsRow],
    runs_view: RunsView,
    rollups_view: RollupsView,
    now: datetime,
    window: timedelta | None,
    schedule_id: str | None,
) -> list[StatsRow]:
    """Per-schedule rows from digests, made exact from the runs where all of that schedule's
    are held. why: one schedule's full window put every schedule on bucket bounds; a 40 s job
    showed p50 46.3s beside `runs list`'s 40s (newcomer20b F4)."""
    rolled = set(rollups_view.names.values())
    return [
        summarize(r.key, _select(runs_view, now, window, r.key, schedule_id))
        if r.bounded and held_whole(runs_view, rolled, r.key)
        else r
        for r in rows
    ]


def held_whole(runs_view: RunsView, rolled: set[str], name: str) -> bool:
    """Whether every run of schedule `name` is still held: none rolled up, its window not full."""
    keep = runs_view.keep
    return name not in rolled and not (keep and len(runs_view.finished.get(name, ())) >= keep)


def _day_digests(
    runs_view: RunsView,
    rollups_view: RollupsView,
    start: datetime | None,
    now: datetime,
    schedule: str | None,
    schedule_id: str | None = None,
) -> Iterator[tuple[str, str, str, Digest]]:
    """(schedule_id, day, name, digest) of whole days that begin after `start`, up to now."""
    first = "" if start is None else _next_day(start)
    for sid, day, d in rollups.digests(rollups_view, None, start, now):
        name = rollups_view.names.get(sid, sid)
        if day >= first and in_scope(name, sid, schedule, schedule_id):
            yield sid, day, name, d
    last = now.date().isoformat()
    for o in runs_view.days.values():
        if first <= o.day <= last and in_scope(o.name, o.schedule_id, schedule, schedule_id):
            yield o.schedule_id, o.day, o.name, o.digest


def in_scope(name: str, sid: str, schedule: str | None, schedule_id: str | None) -> bool:
    """Whether runs of (name, sid) count in an answer for `schedule` (None: all) and, when
    given, that incarnation `schedule_id` of it."""
    if schedule is not None and name != schedule:
        return False
    return schedule_id is None or sid == schedule_id


def _next_day(at: datetime) -> str:
    """The first UTC day that begins at or after `at`."""
    day = at.date()
    return (
        day if at == datetime.combine(day, time(), at.tzinfo) else day + timedelta(days=1)
    ).isoformat()


def _rows_incomplete(runs_view: RunsView, rollups_view: RollupsView, schedule: str | None) -> bool:
    """Whether some final rows in scope may be gone: rolled up, or a window that is full."""
    if any(schedule is None or n == schedule for n in rollups_view.names.values()):
        return True
    if schedule is None and rollups_view.forgotten.by_status:
        return True  # why: forgotten schedules' runs are counted, not held
    keep = runs_view.keep
    if not keep:
        return False
    if schedule is not None:
        return len(runs_view.finished.get(schedule, ())) >= keep
    return any(len(keys) >= keep for keys in runs_view.finished.values())


def _digest_of(row: RunRow) -> Digest:
    return add_row(Digest(), row)


def add_row(out: Digest, row: RunRow) -> Digest:
    """Count one row into a digest (as merging its own digest would); `out`."""
    if row.status in FINAL_STATUSES:
        digest.add_run(
            out,
            row.status,
            duration_s=row.duration_s,
            lateness_s=row.lateness_s,
            finished_at=row.finished_at,
        )
    else:  # why: a run in flight counts as a run, with no outcome or duration yet
        out.by_status[row.status] = out.by_status.get(row.status, 0) + 1
        if row.lateness_s is not None:
            at = digest.bucket(row.lateness_s)
            out.lateness[at] = out.lateness.get(at, 0) + 1
    return out


def from_digest(key: str, d: Digest) -> StatsRow:
    """A StatsRow from a digest (percentiles as bucket upper bounds)."""
    out = StatsRow(key=key, by_status=dict(d.by_status), bounded=True)
    out.runs = sum(n for status, n in d.by_status.items() if status != "skipped")
    succeeded = d.by_status.get("succeeded", 0)
    out.finished = succeeded + sum(d.by_status.get(s, 0) for s in FAILED_STATUSES)
    out.success_rate = succeeded / out.finished if out.finished else None
    out.duration_p50 = digest.percentile(d.durations, 50)
    out.duration_p95 = digest.percentile(d.durations, 95)
    out.duration_max = d.duration_max
    out.lateness_p50 = digest.percentile(d.lateness, 50)
    out.lateness_p99 = digest.percentile(d.lateness, 99)
    out.last_success, out.last_failure = d.last_success, d.last_failure
    return out


def _select(
    view: RunsView,
    now: datetime,
    window: timedelta | None,
    schedule: str | None,
    schedule_id: str | None = None,
) -> Iterable[RunRow]:
    rows: Iterable[RunRow]
    if schedule is None:
        rows = view.rows.values()
    else:
        rows = (view.rows[k] for k in view.by_schedule.get(schedule, ()))
    if schedule_id is not None:
        rows = (r for r in rows if r.schedule_id == schedule_id)
    # why: a fan-out trigger's row is no run (its members are)
    if window is None:
        return (r for r in rows if r.status != FANNED_OUT)
    start = now - window
    return (r for r in rows if start < r.fire_time <= now and r.status != FANNED_OUT)


def _key(row: RunRow, group: Group) -> str:
    if group == "schedule":
        return row.schedule
    if group == "executor":
        return row.executor or NO_EXECUTOR
    return "overall"
