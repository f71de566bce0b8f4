"""Tallies of the runs a view keeps, updated as rows become final, change or leave the window.

why: `stats` must answer in O(schedules), not O(runs kept). What it would otherwise walk every
row for is kept here by the fold instead: the rows in flight, per executor the statuses and
duration/lateness buckets of its kept final rows (with the extremes per schedule, so a row
leaving the window never needs more than its own schedule's rows to be looked at again), which
UTC days each schedule's kept final rows fall on, and a revision per schedule that says when
anything `stats` reads of it changed (projections/stats.py caches by it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar

import msgspec

from jetcron.domain import digest
from jetcron.domain.digest import Digest

K = TypeVar("K", str, int)
NO_EXECUTOR = "-"
"""Group key for runs no executor has picked up."""
_FAILED = digest.FAILED


class Row(Protocol):
    """What a tally reads of a run row (runs.RunRow)."""

    @property
    def schedule(self) -> str: ...
    @property
    def schedule_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def executor(self) -> str: ...
    @property
    def fire_time(self) -> datetime: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def duration_s(self) -> float | None: ...
    @property
    def lateness_s(self) -> float | None: ...


class Extremes(msgspec.Struct, array_like=True, gc=False):
    """The largest duration, latest success and latest failure of some final rows, each with
    how many rows hold it (a row that leaves knows whether it was the last one)."""

    duration_max: float | None = None
    duration_n: int = 0
    last_success: datetime | None = None
    success_n: int = 0
    last_failure: datetime | None = None
    failure_n: int = 0


class Tallies(msgspec.Struct, kw_only=True, gc=False):
    """Running totals of a runs view's rows (see the module docstring)."""

    flight: dict[str, None] = {}
    """Keys of the rows in flight (not final), in the order they appeared."""
    executors: dict[str, Digest] = {}
    """Executor (`-`: none) -> statuses and buckets of its kept final rows (extremes apart)."""
    extremes: dict[str, dict[str, Extremes]] = {}
    """Executor -> schedule name -> extremes of that executor's kept final rows of it."""
    days: dict[str, dict[str, int]] = {}
    """schedule_id -> UTC day of the fire time -> kept final rows."""
    names: dict[str, str] = {}
    """schedule_id -> its schedule name."""
    revs: dict[str, int] = {}
    """schedule_id -> changes to its open days, rollups or kept final rows (a cache key)."""


def executor_of(row: Row) -> str:
    """The executor group of a row."""
    return row.executor or NO_EXECUTOR


def touch(t: Tallies, schedule_id: str, name: str) -> None:
    """Something `stats` reads of this schedule changed."""
    t.revs[schedule_id] = t.revs.get(schedule_id, 0) + 1
    t.names[schedule_id] = name


def opened(t: Tallies, key: str) -> None:
    """A row in flight appeared."""
    t.flight[key] = None


def settled(
    t: Tallies, key: str, row: Row, day: str, duration_i: int | None, lateness_i: int | None
) -> None:
    """A row became final (fire time on `day`, its buckets found by the caller): out of
    flight, into the kept tallies."""
    # why: once per run in the replay hot loop, so written flat
    t.flight.pop(key, None)
    executor, status, sid = row.executor or NO_EXECUTOR, row.status, row.schedule_id
    d = t.executors.get(executor)
    if d is None:
        d = t.executors[executor] = Digest()
    d.by_status[status] = d.by_status.get(status, 0) + 1
    if duration_i is not None:
        d.durations[duration_i] = d.durations.get(duration_i, 0) + 1
    if lateness_i is not None:
        d.lateness[lateness_i] = d.lateness.get(lateness_i, 0) + 1
    if duration_i is not None or (
        row.finished_at is not None and (status == "succeeded" or status in _FAILED)
    ):
        by_name = t.extremes.get(executor)
        ex = None if by_name is None else by_name.get(row.schedule)
        if ex is None:
            ex = _extremes(t, executor, row.schedule)
        _add_extremes(ex, row)
    days = t.days.get(sid)
    if days is None:
        days = t.days[sid] = {}
    days[day] = days.get(day, 0) + 1
    rev = t.revs.get(sid)
    if rev is None:
        t.revs[sid], t.names[sid] = 1, row.schedule
    else:
        t.revs[sid] = rev + 1


def evicted(t: Tallies, row: Row, rows: Mapping[str, Row], kept: Iterable[str]) -> None:
    """A final row left the window; `kept`: the keys of its schedule's final rows still held."""
    # why: once per run in the replay hot loop once windows are full, so written flat
    executor, status, sid = row.executor or NO_EXECUTOR, row.status, row.schedule_id
    d = t.executors[executor]
    _less(d.by_status, status)
    duration, lateness = row.duration_s, row.lateness_s
    if duration is not None and status in digest.TIMED:
        _less(d.durations, digest.bucket(duration))
    if lateness is not None:
        _less(d.lateness, digest.bucket(lateness))
    if not d.by_status:
        del t.executors[executor]
    by_name = t.extremes.get(executor)
    ex = None if by_name is None else by_name.get(row.schedule)
    if ex is not None and _take_extremes(ex, row):
        rescan(t, executor, row.schedule, (rows[k] for k in kept))
    days = t.days[sid]
    day = digest.day_of(row.fire_time)
    left = days[day] - 1
    if left:
        days[day] = left
    else:
        del days[day]
        if not days:
            del t.days[sid]
    t.revs[sid] += 1


def _less(counts: dict[K, int], key: K) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


def count(t: Tallies, row: Row, n: int) -> str:
    """Add (n=1) or take out (n=-1) a final row's status and buckets in its executor's digest;
    the executor group."""
    executor, status = row.executor or NO_EXECUTOR, row.status
    d = t.executors.get(executor)
    if d is None:
        d = t.executors[executor] = Digest()
    _bump(d.by_status, status, n)
    if row.duration_s is not None and status in digest.TIMED:
        _bump(d.durations, digest.bucket(row.duration_s), n)
    if row.lateness_s is not None:
        _bump(d.lateness, digest.bucket(row.lateness_s), n)
    if not d.by_status:
        del t.executors[executor]
    return executor


def rescan(t: Tallies, executor: str, name: str, rows: Iterable[Row]) -> None:
    """Extremes of one executor's kept final rows of one schedule, from those rows."""
    ex = Extremes()
    for row in rows:
        if executor_of(row) == executor:
            _add_extremes(ex, row)
    by_name = t.extremes.get(executor, {})
    if ex.duration_n or ex.success_n or ex.failure_n:
        by_name[name] = ex
        t.extremes[executor] = by_name
    else:
        by_name.pop(name, None)
        if not by_name:
            t.extremes.pop(executor, None)


def _bump(counts: dict[str, int] | dict[int, int], key: object, n: int) -> None:
    # why: counts that reach 0 go, so a tally equals one built afresh from the same rows
    left = counts.get(key, 0) + n  # type: ignore[call-overload]
    if left:
        counts[key] = left  # type: ignore[index]
    else:
        counts.pop(key, None)  # type: ignore[call-overload]


def _extremes(t: Tallies, executor: str, name: str) -> Extremes:
    by_name = t.extremes.get(executor)
    if by_name is None:
        by_name = t.extremes[executor] = {}
    ex = by_name.get(name)
    if ex is None:
        ex = by_name[name] = Extremes()
    return ex


def changing(t: Tallies, row: Row) -> str:
    """A kept final row is about to change (a late start, a late trigger): take it out of the
    counts; its executor group, for `changed`."""
    return count(t, row, -1)


def changed(
    t: Tallies, row: Row, before: str, rows: Mapping[str, Row], kept: Iterable[str]
) -> None:
    """After `changing`: count the row again; if it moved executor, both extremes afresh."""
    count(t, row, 1)
    after = executor_of(row)
    if after != before:
        keys = list(kept)
        rescan(t, before, row.schedule, (rows[k] for k in keys))
        rescan(t, after, row.schedule, (rows[k] for k in keys))
    touch(t, row.schedule_id, row.schedule)


def _add_extremes(ex: Extremes, row: Row) -> None:
    duration = row.duration_s
    if duration is not None and row.status in digest.TIMED:
        if ex.duration_max is None or duration > ex.duration_max:
            ex.duration_max, ex.duration_n = duration, 1
        elif duration == ex.duration_max:
            ex.duration_n += 1
    at = row.finished_at
    if at is None:
        return
    if row.status == "succeeded":
        if ex.last_success is None or at > ex.last_success:
            ex.last_success, ex.success_n = at, 1
        elif at == ex.last_success:
            ex.success_n += 1
    elif row.status in digest.FAILED:
        if ex.last_failure is None or at > ex.last_failure:
            ex.last_failure, ex.failure_n = at, 1
        elif at == ex.last_failure:
            ex.failure_n += 1


def _take_extremes(ex: Extremes, row: Row) -> bool:
    """Take a row out of the extremes; True if it held one alone (then rescan)."""
    gone = False
    if (
        row.duration_s is not None
        and row.status in digest.TIMED
        and row.duration_s == ex.duration_max
    ):
        ex.duration_n -= 1
        gone = ex.duration_n == 0
    at = row.finished_at
    if at is not None and row.status == "succeeded" and at == ex.last_success:
        ex.success_n -= 1
        gone = gone or ex.success_n == 0
    elif at is not None and row.status in digest.FAILED and at == ex.last_failure:
        ex.failure_n -= 1
        gone = gone or ex.failure_n == 0
    return gone


def scalars(t: Tallies, executor: str) -> Extremes:
    """The extremes of all of one executor's kept final rows (counts left at 0)."""
    held = t.extremes.get(executor, {}).values()
    # why: comprehensions and max() run in C: this is read once per executor and query
    durations = [ex.duration_max for ex in held if ex.duration_max is not None]
    successes = [ex.last_success for ex in held if ex.last_success is not None]
    failures = [ex.last_failure for ex in held if ex.last_failure is not None]
    return Extremes(
        duration_max=max(durations) if durations else None,
        last_success=max(successes) if successes else None,
        last_failure=max(failures) if failures else None,
    )
