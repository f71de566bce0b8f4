"""The in-process peer: APScheduler 3.x (AsyncIOScheduler, memory job store) on the same tasks."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from bench.common import epoch_ns, next_whole_second, now, percentile, rnd, sleep_until, wait_until


def _scheduler() -> Any:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    # why: no misfire grace limit and no coalescing, so a late job still runs and is counted
    return AsyncIOScheduler(
        timezone="UTC", job_defaults={"misfire_grace_time": None, "coalesce": False}
    )


async def burst(n: int = 10_000, lead_s: float = 3.0) -> float:
    """n date jobs due in one second; seconds from it until the n-th job body ran."""
    from apscheduler.triggers.date import DateTrigger

    calls: list[int] = []

    async def job() -> None:
        calls.append(time.time_ns())

    scheduler = _scheduler()
    due = next_whole_second(lead_s)
    scheduler.start()
    try:
        for i in range(n):
            scheduler.add_job(job, DateTrigger(run_date=due), id=f"burst-{i}")
        if now() >= due:
            raise RuntimeError("adding the jobs took longer than the lead time")
        await sleep_until(due)
        if not await wait_until(lambda: len(calls) >= n, timeout=60):
            raise RuntimeError(f"APScheduler ran {len(calls)} of {n} jobs within 60 s")
    finally:
        scheduler.shutdown(wait=False)
    return (max(calls) - epoch_ns(due)) / 1e9


async def sparse(n: int = 200, period_s: int = 20) -> list[float]:
    """n date jobs spread evenly over one period; lateness (ms) of each call."""
    from apscheduler.triggers.date import DateTrigger

    late: list[float] = []

    async def job(when: datetime) -> None:
        late.append((time.time_ns() - epoch_ns(when)) / 1e6)

    scheduler = _scheduler()
    start = next_whole_second(1.0)
    times = [start + timedelta(milliseconds=k * period_s * 1000 // n) for k in range(n)]
    scheduler.start()
    try:
        for k, when in enumerate(times):
            scheduler.add_job(job, DateTrigger(run_date=when), args=[when], id=f"sparse-{k}")
        await sleep_until(times[-1] + timedelta(seconds=0.5))
        await wait_until(lambda: len(late) >= n, timeout=10)
    finally:
        scheduler.shutdown(wait=False)
    return late


async def run(quick: bool) -> dict[str, Any]:
    """APScheduler burst and lateness figures."""
    import apscheduler

    burst_s = await burst(10_000)
    period = 20 if quick else 60
    late = await sparse(200, period)
    await asyncio.sleep(0)
    return {
        "apscheduler_burst_10k_seconds": rnd(burst_s, 3),
        "apscheduler_lateness_p50_ms": rnd(percentile(late, 50), 2),
        "apscheduler_lateness_p99_ms": rnd(percentile(late, 99), 2),
        "notes": [
            f"apscheduler_peer: APScheduler {apscheduler.__version__} AsyncIOScheduler, memory job "
            "store, coroutine jobs that record their call time; 10,000 DateTrigger jobs for one "
            f"second, and 200 date jobs spread over {period}s. In-process and in-memory: "
            "a 'fire' is "
            "a function call, not a durable, replicated record as with jetcron or NATS",
        ],
    }
