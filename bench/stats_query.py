"""Stats query: `stats` over all history on the growth benchmark's views, folded in process
(no server), against the row walk it replaced (`stats.compute_merged` per group) on the very
same views in the same run. The growth module measures the same query through a real serve at
1M/3M; this one takes a minute rather than seven.

Figures: `stats_query_inproc_ms` (the query as the service answers it, its cache warm),
`stats_query_inproc_cold_ms` (a fresh cache: every schedule rebuilt, as after a restart or a
day's rollups), `stats_walk_inproc_ms` (the row walk), `stats_query_inproc_speedup`."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from bench.common import rnd
from bench.growth import KEEP_RUNS
from bench.history import Fleet, now
from jetcron.domain.envelope import Envelope, StoredEvent, decode
from jetcron.domain.events import StatsRolledUp
from jetcron.projections import queries, rollups, state, stats, stats_alltime

_json = msgspec.json.Encoder()


def folded(n: int, schedules: int) -> tuple[state.Views, datetime]:
    """The views of about n generated events (keep as in growth), the due days rolled up as
    the leader would; and the time they were made for."""
    at = now()
    views = state.new_views(KEEP_RUNS)
    events = Fleet(schedules).events(n, at)
    seq = itertools.count(1)
    while chunk := list(itertools.islice(events, 50_000)):
        state.apply_batch(views, [_stored(next(seq), s, d) for s, d in chunk])
    ups = [
        StoredEvent(
            next(seq),
            "jetcron.stats",
            Envelope(
                id=f"r{day.schedule_id}{day.day}",
                at=at,
                actor="system:rollup",
                event=StatsRolledUp(
                    schedule_id=day.schedule_id, name=day.name, day=day.day, digest=day.digest
                ),
            ),
        )
        for day in rollups.due(views.runs, at)
    ]
    state.apply_batch(views, ups)
    return views, at


def _stored(seq: int, subject: str, data: bytes) -> StoredEvent:
    envelope = decode(data)
    assert isinstance(envelope, Envelope), envelope
    return StoredEvent(seq, subject, envelope)


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of fn, ms."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _same_groups(answer: bytes) -> list[Any]:
    return [r for r in msgspec.json.decode(answer) if r["group"] != "executor"]


def walk(views: state.Views, at: datetime) -> bytes:
    """The answer as the row walk gave it (before the totals)."""
    out = [
        dict(queries.plain(r), group=g)
        for g in stats.GROUPS
        for r in stats.compute_merged(views.runs, views.rollups, now=at, group=g)
    ]
    return _json.encode(out)


async def run(quick: bool) -> dict[str, Any]:
    """The figures at 600k (quick) or 1M events, 2,000 hourly schedules (growth's fleet)."""
    return measure(600_000 if quick else 1_000_000, 2000)


def measure(n: int, schedules: int) -> dict[str, Any]:
    """The figures for the views of about n events of `schedules` hourly schedules."""
    views, at = folded(n, schedules)
    cache = stats_alltime.Cache()
    # why: like is compared with like: both give the same overall and per-schedule rows
    assert _same_groups(walk(views, at)) == _same_groups(
        _json.encode(queries.stats_of(views, {}, at))
    )

    def query() -> bytes:
        return _json.encode(queries.stats_of(views, {}, at, cache))

    def cold() -> bytes:
        return _json.encode(queries.stats_of(views, {}, at, stats_alltime.Cache()))

    t0 = time.perf_counter()
    query()
    first = (time.perf_counter() - t0) * 1000
    warm = median_ms(query, 9)
    cold_ms = median_ms(cold, 3)
    walked = median_ms(lambda: walk(views, at), 3)
    label = f"{n // 1000}k"
    return {
        "stats_query_inproc_ms": rnd(warm, 2),
        "stats_query_inproc_cold_ms": rnd(cold_ms, 1),
        "stats_query_inproc_first_ms": rnd(first, 1),
        "stats_walk_inproc_ms": rnd(walked, 1),
        "stats_query_inproc_speedup": rnd(walked / warm, 1) if warm else None,
        "notes": [
            f"stats_query: the views of {label} generated events ({schedules} hourly schedules "
            f"as in growth, keep {KEEP_RUNS}, due days rolled up), folded in process; median of 9 "
            "`stats` answers as the service gives them (cache warm) and JSON-encoded, of 3 with "
            "a fresh cache (cold), against the row walk it replaced on the same views "
            f"(median of 3): {len(views.runs.rows)} rows kept, "
            f"{len(views.rollups.days)} schedules with rollups"
        ],
    }
