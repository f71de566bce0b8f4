"""Ticker start-up: catch up on N ScheduleCreated events and build the heap; time and RSS."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Iterator
from typing import Any

from bench.common import CpuMeter, connected, create_schedules, event_log, rnd, rss_mib
from bench.spec_speed import sample_specs
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.log.stream import EventLog
from jetcron.scheduler.checkpoint import snapshot_of
from jetcron.scheduler.ticker import Ticker
from jetcron.server import NatsServer


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


async def populate(url: str, n: int) -> None:
    """Write the n ScheduleCreated events (the log's stream must exist)."""
    async with connected(url) as nc:
        log = await EventLog(nc).open()
        await create_schedules(log, definitions(n), bulk=True)
        await log.close()


async def _populate_elsewhere(url: str, n: int) -> None:
    # why: in a separate process, so the memory it frees cannot be reused by the ticker and
    # hide part of the ticker's RSS growth.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.ticker_load", url, str(n)
    )
    if await proc.wait() != 0:
        raise RuntimeError(f"populating {n} schedules failed (exit {proc.returncode})")


class _Load:
    """One timed Ticker.catch_up() over a freshly written log, with its RSS growth."""

    def __init__(self, n: int, *, restore: bool = False) -> None:
        self.n, self.restore = n, restore
        self.ticker: Ticker | None = None
        self.write_s = self.rss_delta = self.rss_after = 0.0
        self.cpu: CpuMeter | None = None
        self.restore_cpu: CpuMeter | None = None
        self.snapshot_bytes = 0

    async def run(self) -> _Load:
        async with event_log("ticker-load") as (server, _, log):
            started = time.perf_counter()
            await _populate_elsewhere(server.url, self.n)
            self.write_s = time.perf_counter() - started
            gc.collect()
            before = rss_mib()
            self.ticker = Ticker(log)
            with CpuMeter(server) as self.cpu:
                await self.ticker.catch_up()
            self.rss_after = rss_mib()
            self.rss_delta = self.rss_after - before
            if self.restore:
                await self._restore(server, log)
        entries, heap = len(self.ticker.state.entries), len(self.ticker.fold.queue.live())
        if entries != self.n or heap != self.n:
            raise RuntimeError(f"ticker loaded {entries} entries, {heap} queued; want {self.n}")
        return self

    async def _restore(self, server: NatsServer, log: EventLog) -> None:
        """Checkpoint the loaded ticker, then time another one restoring from it (`serve`'s
        restart: load the object, decode it, queue every schedule)."""
        assert self.ticker is not None
        self.snapshot_bytes = len(snapshot_of(self.ticker.state))
        await self.ticker.save_snapshot(leader_only=False)
        restored = Ticker(log)
        with CpuMeter(server) as self.restore_cpu:
            await restored.restore()
        if len(restored.fold.queue.live()) != self.n:
            raise RuntimeError(f"restored {len(restored.state.entries)} entries; want {self.n}")


async def measure(n: int, *, small: int = 0) -> dict[str, Any]:
    """Append n ScheduleCreated events, then time Ticker.catch_up() (fold + queue) and its RSS.

    With `small`, a first load of that size stays alive while the n-sized one runs: it pays the
    one-off costs (zone tables, matchers, buffers), so the second gives the per-schedule cost.
    """
    first = await _Load(small).run() if small else None
    load = await _Load(n, restore=True).run()
    assert load.cpu is not None
    out: dict[str, Any] = {
        "ticker_schedules": n,
        "ticker_load_seconds": rnd(load.cpu.wall_s, 2),
        "ticker_load_client_cpu_s": rnd(load.cpu.client_s, 2),
        "ticker_rss_mib": rnd(load.rss_delta, 1),
        "ticker_rss_total_mib": rnd(load.rss_after, 1),
        "ticker_restore_seconds": rnd(load.restore_cpu.wall_s, 2) if load.restore_cpu else None,
        "ticker_snapshot_mib": rnd(load.snapshot_bytes / 2**20, 1),
        "notes": [
            f"ticker_load: {n} ScheduleCreated (1,000 distinct spec/zone pairs, distinct "
            f"commands) written by a helper process in {load.write_s:.1f}s (bytes and "
            "Nats-Msg-Id exactly as EventLog.publish makes them, via the raw pipelined "
            "publisher to save set-up time); timed Ticker.catch_up() = read + fold + next-fire "
            "queue; ticker_rss_mib = process RSS growth during it (gc'd before and after); "
            "ticker_restore_seconds = another Ticker's restore() from the first one's checkpoint "
            "(object store read + decode + queue), serve's restart path",
        ],
    }
    if first is not None:
        per = load.rss_delta / n
        fixed = max(0.0, first.rss_delta - per * small)
        out["ticker_load_seconds_1m_est"] = rnd(load.cpu.wall_s * 1_000_000 / n, 1)
        out["ticker_rss_mib_1m_est"] = rnd(fixed + per * 1_000_000, 0)
        if load.restore_cpu is not None:
            out["ticker_restore_seconds_1m_est"] = rnd(load.restore_cpu.wall_s * 1_000_000 / n, 1)
        out["notes"].append(
            f"ticker_load: *_1m_est extrapolated: RSS = one-off part ({fixed:.1f} MiB, from a "
            f"{small}-schedule load kept alive) + {per * 2**20:.0f} B/schedule x 1M (measured "
            f"on {n}); seconds linear in n"
        )
        del first
    return out


async def run(quick: bool) -> dict[str, Any]:
    """The ticker start-up figures."""
    return await measure(100_000, small=20_000) if quick else await measure(1_000_000)


if __name__ == "__main__":
    asyncio.run(populate(sys.argv[1], int(sys.argv[2])))
