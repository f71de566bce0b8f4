"""Statistics over all history (no window), read from the fold's running totals
(projections/tallies.py) and cached per schedule by revision: O(schedules), not O(runs kept)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from jetcron.domain import digest
from jetcron.domain.digest import Digest
from jetcron.projections import tallies
from jetcron.projections.rollups import RollupsView
from jetcron.projections.runs import OpenDay, RunRow, RunsView
from jetcron.projections.stats import (
    GROUPS,
    Group,
    StatsRow,
    _digest_of,
    _rows_incomplete,
    compute,
    exact_where_held,
    from_digest,
    in_scope,
)


class Cache:
    """Per-schedule parts of the last answers, by the revisions they were built from.

    why: a schedule's statistics change only when one of its runs ends or leaves the window,
    or its day is rolled up (tallies.revs); a `stats` answer over thousands of schedules then
    rebuilds only those. The projection service keeps one; without one, all is built afresh.
    """

    def __init__(self) -> None:
        self.parts: dict[str, tuple[int, str, _Part]] = {}
        """schedule_id -> (revision, day of the answer, part)."""
        self.rows: dict[str, tuple[tuple[_Part, ...], StatsRow]] = {}
        """Schedule name -> (the parts it was built from, its row)."""
        self.version = 0
        """Bumped whenever a part is rebuilt."""
        self.overall: tuple[tuple[object, ...], Digest] | None = None
        self.names: tuple[tuple[object, ...], dict[str, StatsRow]] | None = None
        """(scope, version, parts) -> each schedule name's row without its rows in flight."""
        self.executors: tuple[tuple[int, int], dict[str, Digest]] | None = None
        """(version, schedule ids) -> each executor's digest without its rows in flight.

        why: every change to the executors' tallies (a run settled, evicted or changed)
        bumps its schedule's revision, so a part is rebuilt and `version` moves (or a
        forgotten schedule's revision goes); walking every executor's extremes per schedule
        was a third of an answer's CPU at 2,000 schedules."""


class _Part(msgspec.Struct, gc=False):
    """One schedule id's runs in `stats` over all history: its whole days and the final rows
    kept that no day digest covers (rows in flight are added per query)."""

    name: str
    digest: Digest
    days: bool
    """Whether any whole day (an open day or a rollup) is in it."""


def everything(
    runs_view: RunsView,
    rollups_view: RollupsView,
    *,
    now: datetime,
    schedule: str | None = None,
    cache: Cache | None = None,
    schedule_id: str | None = None,
) -> dict[Group, list[StatsRow]]:
    """`compute_merged` over all history (no window) for every group, read from the totals the
    fold keeps: the same answers, except that per-executor percentiles come from buckets
    (at most ~19 % high) once the rows of some schedule are no longer all held.
    `schedule_id`: of that incarnation of the `schedule` name only."""
    cache = cache or Cache()
    scope = (schedule, schedule_id)
    parts = _parts(runs_view, rollups_view, now.date().isoformat(), scope, cache)
    # why: deleted schedules the views no longer hold count in the overall row only
    forgotten = rollups_view.forgotten if schedule is None else Digest()
    whole_days = any(p.days for p in parts) or bool(forgotten.by_status)
    if not (whole_days and _rows_incomplete(runs_view, rollups_view, schedule)):
        return {
            g: compute(runs_view, now=now, group=g, schedule=schedule, schedule_id=schedule_id)
            for g in GROUPS
        }
    flying = [
        row
        for key in runs_view.tallies.flight
        if in_scope((row := runs_view.rows[key]).schedule, row.schedule_id, *scope)
    ]
    return {
        "overall": _overall(parts, flying, cache, scope, forgotten),
        "schedule": exact_where_held(
            _by_name(parts, flying, cache, scope), runs_view, rollups_view, now, None, schedule_id
        ),
        "executor": (
            compute(
                runs_view, now=now, group="executor", schedule=schedule, schedule_id=schedule_id
            )
            if schedule is not None
            else _by_executor(runs_view.tallies, flying, cache)
        ),
    }


def _parts(
    runs_view: RunsView,
    rollups_view: RollupsView,
    today: str,
    scope: tuple[str | None, str | None],
    cache: Cache,
) -> list[_Part]:
    """The part of every schedule id in scope (name, id), the stale ones rebuilt."""
    t, known = runs_view.tallies, cache.parts
    out: list[_Part] = []
    stale: list[str] = []
    for sid, rev in t.revs.items():
        if scope != (None, None) and not in_scope(t.names[sid], sid, *scope):
            continue
        hit = known.get(sid)
        if hit is not None and hit[0] == rev and hit[1] == today:
            out.append(hit[2])
        else:
            stale.append(sid)
    if stale:
        cache.version += 1
        opened = _open_days(runs_view, set(stale))
        for sid in stale:
            part = _part(runs_view, rollups_view, sid, today, opened.get(sid, []))
            known[sid] = (t.revs[sid], today, part)
            out.append(part)
    if len(known) > len(t.revs):
        _prune(cache, t)
    return out


def _prune(cache: Cache, t: tallies.Tallies) -> None:
    """Drop what the cache holds of schedules the views forgot (projections/forget.py)."""
    for sid in [s for s in cache.parts if s not in t.revs]:
        del cache.parts[sid]
    names = set(t.names.values())
    for name in [n for n in cache.rows if n not in names]:
        del cache.rows[name]


def _open_days(runs_view: RunsView, sids: set[str]) -> dict[str, list[OpenDay]]:
    out: dict[str, list[OpenDay]] = {}
    for open_day in runs_view.days.values():
        if open_day.schedule_id in sids:
            out.setdefault(open_day.schedule_id, []).append(open_day)
    return out


def _part(
    runs_view: RunsView, rollups_view: RollupsView, sid: str, today: str, opened: list[OpenDay]
) -> _Part:
    """One schedule id's whole days up to today, and its kept final rows outside them."""
    name = runs_view.tallies.names[sid]
    days: list[Digest] = []
    rolled = rollups_view.days.get(sid, {})
    if rolled and rollups_view.latest.get(sid, "") <= today:
        days.append(rollups_view.totals[sid])
    elif rolled:  # why: a day after today (a clock ahead): as compute_merged, not counted
        days += [digest.unpack(d) for day, d in rolled.items() if day <= today]
    days += [d.digest for d in opened if d.day <= today]
    open_days = {d.day for d in opened}
    # why: only the days of kept rows are looked up (a schedule may hold 400 rolled-up days)
    loose = {
        day
        for day in runs_view.tallies.days.get(sid, {})
        if day > today or (day not in rolled and day not in open_days)
    }
    rows: list[Digest] = []
    if loose:
        for key in runs_view.finished.get(name, ()):
            row = runs_view.rows[key]
            if row.schedule_id == sid and digest.day_of(row.fire_time) in loose:
                rows.append(_digest_of(row))
    return _Part(name=name, digest=digest.merge(days + rows), days=bool(days))


def _by_name(
    parts: list[_Part], flying: list[RunRow], cache: Cache, scope: tuple[str | None, str | None]
) -> list[StatsRow]:
    key = (scope, cache.version, len(parts))
    if cache.names is None or cache.names[0] != key:
        cache.names = (key, _named(parts, cache))
    rows = cache.names[1]
    if not flying:
        return list(rows.values())
    # why: rows in flight change without a revision; the rows of their names are made afresh
    extra: dict[str, list[Digest]] = {}
    for run in flying:
        extra.setdefault(run.schedule, []).append(_digest_of(run))
    for part in parts:
        if part.name in extra and part.digest.by_status:
            extra[part.name].append(part.digest)
    out = dict(rows)
    for name, digests in extra.items():
        out[name] = from_digest(name, digest.merge(digests))
    if not extra.keys() <= rows.keys():
        out = dict(sorted(out.items()))
    return list(out.values())


def _named(parts: list[_Part], cache: Cache) -> dict[str, StatsRow]:
    """Each schedule name's row from its parts (rows in flight apart), in name order."""
    names: dict[str, list[_Part]] = {}
    for part in parts:
        if part.digest.by_status:
            names.setdefault(part.name, []).append(part)
    out = {}
    known = cache.rows
    for name in sorted(names):
        mine = names[name]
        key = tuple(mine)  # why: compared by identity first; a rebuilt part is a new object
        hit = known.get(name)
        if hit is None or hit[0] != key:
            d = mine[0].digest if len(mine) == 1 else digest.merge(p.digest for p in mine)
            hit = known[name] = (key, from_digest(name, d))
        out[name] = hit[1]
    return out


def _overall(
    parts: list[_Part],
    flying: list[RunRow],
    cache: Cache,
    scope: tuple[str | None, str | None],
    forgotten: Digest,
) -> list[StatsRow]:
    key = (scope, cache.version, len(parts), sum(forgotten.by_status.values()))
    if cache.overall is None or cache.overall[0] != key:
        cache.overall = (key, digest.merge([forgotten, *(p.digest for p in parts)]))
    total = cache.overall[1]
    if flying:
        total = digest.merge([total, *(_digest_of(r) for r in flying)])
    return [from_digest("overall", total)] if total.by_status else []


def _by_executor(t: tallies.Tallies, flying: list[RunRow], cache: Cache) -> list[StatsRow]:
    key = (cache.version, len(t.revs))
    if cache.executors is None or cache.executors[0] != key:
        cache.executors = (key, {e: _executor_digest(t, e) for e in t.executors})
    kept = cache.executors[1]
    extra: dict[str, list[Digest]] = {}
    for row in flying:
        extra.setdefault(tallies.executor_of(row), []).append(_digest_of(row))
    out = []
    for executor in sorted(kept.keys() | extra.keys()):
        d = kept.get(executor) or Digest()
        if executor in extra:
            d = digest.merge([d, *extra[executor]])
        out.append(from_digest(executor, d))
    return out


def _executor_digest(t: tallies.Tallies, executor: str) -> Digest:
    """One executor's kept final rows: its counts and buckets (copied), and its extremes."""
    kept, ex = t.executors[executor], tallies.scalars(t, executor)
    return Digest(
        by_status=dict(kept.by_status),
        durations=dict(kept.durations),
        lateness=dict(kept.lateness),
        duration_max=ex.duration_max,
        last_success=ex.last_success,
        last_failure=ex.last_failure,
    )
