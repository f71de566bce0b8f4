"""Informal throughput check: prints events/s for 200k synthetic events (no timed assertion)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from projection_factory import T0, History

from jetcron.domain.definition import Job
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import RunFailed, RunStarted, RunSucceeded, RunTriggered
from jetcron.projections import state

EVENTS = 200_000
SCHEDULES = 50
STEP = timedelta(milliseconds=10)


def synthetic(n: int) -> list[StoredEvent]:
    """Schedules firing every minute; runs start and succeed, every 10th fails once first."""
    h = History(step=timedelta(milliseconds=10))
    for i in range(SCHEDULES):
        h.create(f"job-{i}", "* * * * *")
    events = h.events
    job = Job(command=["true"])
    at = h.now
    minute = 0

    def add(event: Any) -> None:
        nonlocal at
        at += STEP
        envelope = Envelope(id="", at=at, actor="bench", event=event)
        events.append(StoredEvent(len(events) + 1, "jetcron.bench", envelope))

    while len(events) < n:
        minute += 1
        fire_time = T0 + timedelta(minutes=minute)
        for i in range(SCHEDULES):
            sid, name, executor = h.sid(f"job-{i}"), f"job-{i}", f"host-{i % 7}"
            run: dict[str, Any] = {
                "schedule_id": sid,
                "name": name,
                "fire_id": f"{sid}:{minute}",
                "fire_time": fire_time,
                "run_id": f"{sid}:{minute}",
            }
            add(RunTriggered(**run, version=1, target="default", job=job))
            add(RunStarted(**run, executor=executor))
            if (minute + i) % 10 == 0:
                add(RunFailed(**run, executor=executor, next_retry_at=at + STEP))
                add(RunStarted(**run, attempt=2, executor=executor))
                add(RunSucceeded(**run, attempt=2, executor=executor, duration_s=2.5))
            else:
                add(RunSucceeded(**run, executor=executor, duration_s=1.5))
    return events[:n]


def test_replay_throughput() -> None:
    events = synthetic(EVENTS)
    views = state.Views()

    started = time.perf_counter()
    state.apply_batch(views, events)
    elapsed = time.perf_counter() - started

    print(
        f"\nprojection replay: {EVENTS / elapsed:,.0f} events/s ({EVENTS} events, {elapsed:.2f}s)"
    )
    assert (views.position, views.poison) == (EVENTS, 0)
    assert sum(r.runs_total for r in views.schedules.rows.values()) == len(views.runs.rows)
