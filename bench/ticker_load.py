"""Ticker start-up: catch up on N ScheduleCreated events and build the heap; time and RSS."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

from bench.common import CpuMeter, create_schedules, event_log, rnd, rss_mib
from bench.spec_speed import sample_specs
from jetcron.scheduler.model import Job, ScheduleDefinition
from jetcron.scheduler.ticker import Ticker


def definitions(n: int) -> Iterator[tuple[str, ScheduleDefinition]]:
    """n schedules over 1,000 distinct (spec, zone) pairs, each with its own command line."""
    specs = sample_specs(1000)
    for i in range(n):
        spec, tz = specs[i % len(specs)]
        job = Job(command=["/usr/local/bin/rebalance", "--device", f"dev-{i}"])
        yield (
            f"sched-{i:07d}",
            ScheduleDefinition(spec=spec, tz=tz, job=job, target=f"host-{i % 50}"),
        )


async def measure(n: int) -> dict[str, Any]:
    """Append n ScheduleCreated events, then time Ticker.catch_up() (fold + heap) and its RSS."""
    async with event_log("ticker-load") as (server, _, log):
        started = time.perf_counter()
        await create_schedules(log, definitions(n), bulk=True)
        write_s = time.perf_counter() - started
        gc.collect()
        before = rss_mib()
        ticker = Ticker(log)
        with CpuMeter(server) as cpu:
            await ticker.catch_up()
        after = rss_mib()
        entries, heap = len(ticker.state.entries), len(ticker._heap)
    if entries != n or heap != n:
        raise RuntimeError(f"ticker loaded {entries} entries and {heap} heap items, expected {n}")
    delta = after - before
    out: dict[str, Any] = {
        "ticker_schedules": n,
        "ticker_load_seconds": rnd(cpu.wall_s, 2),
        "ticker_load_client_cpu_s": rnd(cpu.client_s, 2),
        "ticker_rss_mib": rnd(delta, 1),
        "ticker_rss_total_mib": rnd(after, 1),
        "notes": [
            f"ticker_load: {n} ScheduleCreated (1,000 distinct spec/zone pairs, distinct commands) "
            f"written in {write_s:.1f}s (bytes and Nats-Msg-Id exactly as EventLog.publish makes "
            "them, sent through the raw pipelined publisher to save set-up time); timed "
            "Ticker.catch_up() = read + "
            "fold + next-fire heap; ticker_rss_mib = process RSS after minus before (gc'd)",
        ],
    }
    if n < 1_000_000:
        scale = 1_000_000 / n
        out["ticker_load_seconds_1m_est"] = rnd(cpu.wall_s * scale, 1)
        out["ticker_rss_mib_1m_est"] = rnd(delta * scale, 0)
        out["notes"].append(f"ticker_load: *_1m_est are linear extrapolations from {n} schedules")
    return out


async def run(quick: bool) -> dict[str, Any]:
    """The ticker start-up figures."""
    return await measure(100_000 if quick else 1_000_000)
