"""Informal throughput check: prints events/s for 200k synthetic events (no timed assertion)."""

from __future__ import annotations

import time
from datetime import timedelta

from projection_factory import T0, History

from jetcron.projections import state
from jetcron.scheduler.events import StoredEvent

EVENTS = 200_000
SCHEDULES = 50


def synthetic(n: int) -> list[StoredEvent]:
    """Schedules firing every minute; runs start and succeed, every 10th fails once first."""
    h = History(step=timedelta(milliseconds=10))
    for i in range(SCHEDULES):
        h.create(f"job-{i}", "* * * * *")
    minute = 0
    while len(h.events) < n:
        minute += 1
        for i in range(SCHEDULES):
            run = h.trigger(f"job-{i}", T0 + timedelta(minutes=minute))
            h.started(run, executor=f"host-{i % 7}")
            if (minute + i) % 10 == 0:
                h.failed(run, retry_in=timedelta(seconds=5))
                h.started(run, attempt=2, executor=f"host-{i % 7}")
                h.succeeded(run, attempt=2, duration_s=2.5)
            else:
                h.succeeded(run, duration_s=1.5)
    return h.events[:n]


def test_replay_throughput() -> None:
    events = synthetic(EVENTS)
    views = state.Views()

    started = time.perf_counter()
    state.apply_batch(views, events)
    elapsed = time.perf_counter() - started

    print(f"\nprojection replay: {EVENTS / elapsed:,.0f} events/s ({EVENTS} events, {elapsed:.2f}s)")
    assert (views.position, views.poison) == (EVENTS, 0)
    assert sum(r.runs_total for r in views.schedules.rows.values()) == len(views.runs.rows)
