"""Answers about what a change would do: `whatif` (a timing tried on the history) and
`conflicts` (runs that would meet on one target); pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from jetcron.domain.calendar import (
    CALENDAR_TAKES,
    OPERATOR_SKIP,
    CalendarDefinition,
    CalendarPatch,
    calendar_fate,
    fires_left,
    named,
    patched,
    unknown_calendar,
    used_by,
    validate_calendar,
)
from jetcron.domain.definition import DefinitionPatch, ScheduleDefinition, apply_patch
from jetcron.domain.errors import CalendarNotFound, ScheduleNotFound
from jetcron.projections import calendars, conflicts, fates, lifecycle, schedules, stats, whatif
from jetcron.projections.fire_queries import aged_from, fates_in, fires_window
from jetcron.projections.limits import FIRES_MAX
from jetcron.projections.queries import iso, plain
from jetcron.projections.state import Views

WHAT_IF_HIDDEN: frozenset[fates.Fate] = frozenset({"paused", "not_created", "deleted", "upcoming"})
"""Fates of nominal fires the schedule could not have had: not compared by what-if."""
WHAT_IF_WINDOW_S = 30 * 86400.0
"""How far back what-if looks unless told."""


def what_if(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The past fires of (now - window, now] that a patched timing would have moved, added or
    dropped, and the next `n` fires before and after; nothing is changed."""
    name = str(params.get("name", ""))
    row = schedules.get(views.schedules, name)
    if row is None:
        raise ScheduleNotFound(name)
    patch = msgspec.convert(params.get("patch") or {}, DefinitionPatch)
    old, new = row.definition, apply_patch(row.definition, patch)
    tol = whatif.tolerance((old.spec, old.tz), (new.spec, new.tz))  # why: checks the spec
    since, periods, told, covered = _history(views, name, params, now)
    # why: the new timing in every stretch the schedule lived, so a pause still hides fires
    again = [msgspec.structs.replace(p, window=_timing(new)) for p in periods if p.window]
    times, covered_new = lifecycle.latest_nominal(again, since, now, FIRES_MAX)
    covered = max(covered, covered_new)
    cals = _calendars_of(views, new)
    # why: a fire a calendar took did not run, and one the new calendars take would not: the
    # comparison is of fires that run (calendars as they are now; see calendar_what_if)
    before = [
        f.fire_time
        for f in told
        if f.fate not in WHAT_IF_HIDDEN and f.fire_time > covered and not _taken_by_calendar(f)
    ]
    # why: like with like: recorded fires against recomputed ones differ for reasons that are
    # no change's (a spec updated inside the window, a restart's catch-up); none moves here
    same = fire_timing(old) == fire_timing(new)
    after = (
        before
        if same
        else [
            t
            for t in times
            if t > covered
            and _active(periods, t)
            and calendar_fate(new.exclude, new.only_within, cals, t) is None
        ]
    )
    by_time = {f.fire_time: f for f in told}
    n = _n(params)
    return {
        "schedule": name,
        "state": row.state,
        "before": _side(old),
        "after": _side(new),
        "timing_changed": not same,
        **_compared((since, covered, now), (before, after), tol, by_time),
        "next_before": [iso(t) for t in fires_left(old, cals, now, limit=n)],
        "next_after": [iso(t) for t in fires_left(new, cals, now, limit=n)],
    }


def _compared(
    window: tuple[datetime, datetime, datetime],
    fires: tuple[list[datetime], list[datetime]],
    tol: timedelta | None,
    by_time: dict[datetime, fates.Fire],
) -> dict[str, Any]:
    """What both what-ifs answer about the past: the window (since, covered, now), the fires
    before and after, and what changed."""
    (since, covered, now), (before, after) = window, fires
    return {
        "since": iso(covered),
        "until": iso(now),
        "more": covered > since,
        "fires_before": len(before),
        "fires_after": len(after),
        **_changes(whatif.compare(before, after, tol), by_time),
    }


def _calendars_of(views: Views, d: ScheduleDefinition) -> dict[str, CalendarDefinition]:
    """The live calendars; InvalidInput naming one `d` refers to that does not exist (the
    scheduler would refuse the update with the same words)."""
    cals = calendars.definitions(views.calendars)
    for name in named(d):
        if name not in cals:
            raise unknown_calendar(name)
    return cals


TIMING_FIELDS = ("spec", "tz", "start", "end", "jitter_s", "max_runs", "exclude", "only_within")
"""The fields of a definition that decide its fire times."""


def fire_timing(d: ScheduleDefinition) -> tuple[Any, ...]:
    """What decides `d`'s fire times: equal for two definitions that fire alike."""
    return tuple(getattr(d, f) for f in TIMING_FIELDS)


def _side(d: ScheduleDefinition) -> dict[str, Any]:
    side: dict[str, Any] = {"spec": d.spec, "tz": d.tz}
    return side | {k: getattr(d, k) for k in ("exclude", "only_within") if getattr(d, k)}


def _history(
    views: Views, name: str, params: dict[str, Any], now: datetime
) -> tuple[datetime, list[lifecycle.Period], list[fates.Fire], datetime]:
    """The start of the what-if window, the schedule's lifecycle, its fires in the window
    with their fates, and the start of the part of the window they cover."""
    back = timedelta(seconds=float(params.get("window_s", WHAT_IF_WINDOW_S)))
    since, _ = fires_window(views, {"name": name}, now, back)  # why: from the creation if later
    periods, told, covered = fates_in(views, name, since, now, now, *aged_from(params, now))
    return since, periods, told, covered


def _n(params: dict[str, Any]) -> int:
    return max(1, min(int(params.get("n", 5)), 100))


def calendar_what_if(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """For every schedule that names calendar `name`: the past fires of (now - window, now]
    a patched calendar would have given back or taken, and the next `n` fires before and
    after; nothing is changed. A calendar only takes fires or leaves them: none moves."""
    name = str(params.get("name", ""))
    row = views.calendars.rows.get(name)
    if row is None:
        raise CalendarNotFound(name)
    patch = msgspec.convert(params.get("patch") or {}, CalendarPatch)
    new = validate_calendar(patched(row.definition, patch))
    now_cals = calendars.definitions(views.calendars)
    then_cals = {**now_cals, name: new}
    rows = views.schedules.rows
    users = used_by(name, ((r.name, r.definition) for r in rows.values()))
    return {
        "calendar": name,
        "before": plain(row.definition),
        "after": plain(new),
        "until": iso(now),
        "schedules": [
            {"uses": how, **_under(views, rows[s], now_cals, then_cals, params, now)}
            for s, how in sorted(users.items())
        ],
    }


def _under(
    views: Views,
    row: schedules.ScheduleRow,
    before: dict[str, CalendarDefinition],
    after: dict[str, CalendarDefinition],
    params: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """One schedule's what-if under the `after` calendars: its recorded fires against the
    same nominal fires with the calendars' verdicts taken again."""
    d = row.definition
    since, _, told, covered = _history(views, row.name, params, now)
    # why: an operator's skip stays a skip either way; only what calendars decide may change
    seen = [
        f
        for f in told
        if f.fate not in WHAT_IF_HIDDEN
        and f.fire_time > covered
        and not (f.fate == "skipped" and f.reason.startswith(OPERATOR_SKIP))
    ]
    by_time = {f.fire_time: f for f in seen}
    had = [f.fire_time for f in seen if not _taken_by_calendar(f)]
    would = [
        f.fire_time
        for f in seen
        if calendar_fate(d.exclude, d.only_within, after, f.fire_time) is None
    ]
    n = _n(params)
    return {
        "schedule": row.name,
        "state": row.state,
        "spec": d.spec,
        "tz": d.tz,
        **_compared((since, covered, now), (had, would), timedelta(0), by_time),
        "next_before": [iso(t) for t in fires_left(d, before, now, limit=n)],
        "next_after": [iso(t) for t in fires_left(d, after, now, limit=n)],
    }


def _taken_by_calendar(fire: fates.Fire) -> bool:
    return fire.fate == "skipped" and fire.reason.startswith(CALENDAR_TAKES)


def _timing(d: ScheduleDefinition) -> lifecycle.Window:
    return lifecycle.Window(spec=d.spec, tz=d.tz, start=d.start, end=d.end, jitter_s=d.jitter_s)


def _active(periods: list[lifecycle.Period], when: datetime) -> bool:
    p = lifecycle.period_at(periods, when)
    return p is not None and p.state == "active"


def _changes(found: whatif.Comparison, by_time: dict[datetime, fates.Fire]) -> dict[str, Any]:
    rows = []
    for c in found.changes:
        row: dict[str, Any] = {"change": c.kind, "before": iso(c.before), "after": iso(c.after)}
        if c.before is not None and c.after is not None:
            row["shift_s"] = (c.after - c.before).total_seconds()
        # why: what became of the fire: a vanished one's run, an appeared one's skip
        fire = by_time.get(c.before if c.before is not None else c.after)  # type: ignore[arg-type]
        if fire is not None:
            row.update(fate=fire.fate, status=fire.status, run_id=fire.run_id)
            if fire.reason:
                row["reason"] = fire.reason
        rows.append(row)
    counts = {k: sum(r["change"] == k for r in rows) for k in ("moved", "appeared", "vanished")}
    return {"changes": rows, "unchanged": found.unchanged, **counts}


def conflicts_of(
    views: Views,
    params: dict[str, Any],
    now: datetime,
    executors: Sequence[tuple[Sequence[str], int | None]] = (),
) -> dict[str, Any]:
    """Pairs of active schedules sharing a target or a tag whose runs overlap in
    (now, now + within] (only those with `name`, if given). With `crowded`, only what
    `schedule add/update` warn of (conflicts.py): `executors` online, as (pools served,
    concurrency), say how many runs a target takes at once."""
    until = now + timedelta(seconds=float(params.get("within_s", 7 * 86400)))
    name = params.get("name") or None
    if name and schedules.get(views.schedules, name) is None:
        raise ScheduleNotFound(name)
    p95 = {
        r.key: r.duration_p95
        for r in stats.compute(views.runs, now=now, window=conflicts.RECENT, group="schedule")
    }
    crowded = bool(params.get("crowded"))
    rows = {r.name: r for r in schedules.query(views.schedules, "active")}
    members = [_member(row, p95.get(row.name), until, crowded) for row in rows.values()]
    cap = conflicts.fire_cap(conflicts.wanted(members, name))
    timed = _timed(rows, now, cap, until)
    most = {m.target: conflicts.capacity(m.target, executors) for m in members}
    crowd = _crowd(members, timed, most) if crowded else None
    found = conflicts.conflicts(members, involving=name, timed=timed, crowded=crowd)
    runs = {m.name: plain(m.run) for m in members}
    answer: dict[str, Any] = {
        "since": iso(now),
        "until": iso(until),
        "default_run_s": conflicts.DEFAULT_RUN.total_seconds(),
        "checked": found.checked,
        "complete": found.complete,
        "conflicts": [dict(plain(c), a_run=runs[c.a], b_run=runs[c.b]) for c in found.conflicts],
    }
    if crowded:
        answer["capacity"] = {t: most[t] for c in found.conflicts for t in _targets(c.shared)}
    return answer


def _timed(
    rows: dict[str, schedules.ScheduleRow], now: datetime, cap: int, until: datetime
) -> Callable[[conflicts.Member], conflicts.Member]:
    """A member with its runs in (now, until] filled in (up to `cap` fires), each once."""
    filled: dict[str, conflicts.Member] = {}

    def timed(m: conflicts.Member) -> conflicts.Member:
        if m.name not in filled:
            fires = schedules.next_fires(rows[m.name], now, cap, until=until)
            cut = fires[-1] if len(fires) == cap else until
            runs = conflicts.started(fires, m.run, rows[m.name].definition.overlap)
            filled[m.name] = msgspec.structs.replace(m, fires=tuple(runs), checked_until=cut)
        return filled[m.name]

    return timed


def _crowd(
    members: Sequence[conflicts.Member],
    timed: Callable[[conflicts.Member], conflicts.Member],
    most: dict[str, int],
) -> conflicts.SpansOf:
    """A target's crowded spans (more runs in flight than `most` of it), each made once."""
    spans: dict[str, list[conflicts.Span]] = {}

    def crowd(target: str) -> list[conflicts.Span]:
        if target not in spans:
            on = (timed(m) for m in members if m.target == target)
            spans[target] = conflicts.full_spans(
                ((m.fires, m.run) for m in on), max(1, most[target])
            )
        return spans[target]

    return crowd


def _targets(shared: list[str]) -> list[str]:
    return [s.removeprefix("target ") for s in shared if s.startswith("target ")]


def _member(
    row: schedules.ScheduleRow, p95: float | None, until: datetime, crowded: bool = False
) -> conflicts.Member:
    d = row.definition
    run = (conflicts.likely if crowded else conflicts.estimate)(p95, d.timeout_s)
    return conflicts.Member(
        name=row.name, target=d.target, tags=tuple(d.tags), run=run, checked_until=until
    )
