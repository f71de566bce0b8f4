"""The executor: trigger → start latency, and completed runs per second (noop action, `true`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.common import (
    connected,
    event_log,
    now,
    per_s,
    percentile,
    publish_all,
    read_events,
    rnd,
    trigger_envelope,
    wait_until,
)
from jetcron import subjects
from jetcron.domain.definition import Job
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import RunStarted, RunSucceeded, RunTriggered
from jetcron.log.stream import EventLog

NAME = "bench-host"
NOOP = Job(action="noop")
TRUE = Job(command=["true"])
_NULLS = {
    "trigger_to_start_p50_ms": None,
    "trigger_to_start_p99_ms": None,
    "executor_runs_per_s": None,
    "executor_true_runs_per_s": None,
}


class _Session:
    """One executor (own connection, as on a separate host) serving `default` until closed."""

    def __init__(self, url: str, concurrency: int) -> None:
        self.url, self.concurrency = url, concurrency
        self.stop = asyncio.Event()

    async def __aenter__(self) -> Any:
        from jetcron.executors.agent import Executor, ExecutorConfig

        self._conn = connected(self.url)
        nc = await self._conn.__aenter__()
        config = ExecutorConfig(name=NAME, targets=[NAME, "default"], concurrency=self.concurrency)
        self.executor = Executor(nc, config)
        self.task = asyncio.create_task(self.executor.run(self.stop))
        js = nc.jetstream()

        async def bound() -> bool:
            try:
                await js.consumer_info(subjects.STREAM, "pool-default")
            except Exception:  # noqa: BLE001 - not created yet
                return False
            return True

        for _ in range(500):
            if await bound() or self.task.done():
                break
            await asyncio.sleep(0.01)
        if self.task.done():
            self.task.result()
        await asyncio.sleep(0.2)  # why: let its first pull request reach the server
        return self.executor

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait({self.task}, timeout=10)
        await self._conn.__aexit__(None, None, None)


def _by_run(events: list[StoredEvent], kind: type) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        if isinstance(e.envelope.event, kind):
            out.setdefault(e.envelope.event.run_id, e.stored_ns)  # type: ignore[attr-defined]
    return out


async def latency(url: str, log: EventLog, n: int, gap_s: float = 0.02) -> list[float]:
    """n sparse noop triggers; ms from each RunTriggered stored to its RunStarted stored."""
    async with _Session(url, 4) as executor:
        for i in range(n):
            await log.publish(
                subjects.trigger("default"), trigger_envelope(i, now(), job=NOOP, name=f"lat-{i}")
            )
            await asyncio.sleep(gap_s)
        if not await wait_until(lambda: executor.stats.succeeded >= n, timeout=30):
            raise RuntimeError(f"executor finished {executor.stats.succeeded} of {n} sparse runs")
    events = await read_events(log)
    triggered, started = _by_run(events, RunTriggered), _by_run(events, RunStarted)
    return [(started[r] - t) / 1e6 for r, t in triggered.items() if r in started]


async def throughput(
    url: str, log: EventLog, n: int, job: Job, concurrency: int, tag: str
) -> float | None:
    """n triggers at once; completed runs per second, first trigger stored → n-th success stored."""
    async with _Session(url, concurrency) as executor:
        base = executor.stats.succeeded
        items = [
            (subjects.trigger("default"), trigger_envelope(i, now(), job=job, name=f"{tag}-{i}"))
            for i in range(n)
        ]
        await publish_all(log, items, workers=min(n, 8192))
        if not await wait_until(
            lambda: executor.stats.succeeded - base >= n, timeout=120, poll=0.05
        ):
            raise RuntimeError(
                f"executor finished {executor.stats.succeeded - base} of {n} {tag} runs"
            )
    events = [e for e in await read_events(log) if e.envelope.event.name.startswith(f"{tag}-")]  # type: ignore[union-attr]
    first = min(_by_run(events, RunTriggered).values())
    last = max(_by_run(events, RunSucceeded).values())
    return per_s(n, (last - first) / 1e9)


async def measure(quick: bool) -> dict[str, Any]:
    """All executor figures, each phase against its own server."""
    lat_n, noop_n, true_n, conc = (100, 1000, 100, 16) if quick else (300, 5000, 500, 16)
    out: dict[str, Any] = {}
    async with event_log("executor-latency") as (server, _, log):
        lat = await latency(server.url, log, lat_n)
    async with event_log("executor-noop") as (server, _, log):
        noop = await throughput(server.url, log, noop_n, NOOP, conc, "noop")
        noop_default = await throughput(server.url, log, noop_n // 4, NOOP, 4, "noop4")
    async with event_log("executor-true") as (server, _, log):
        true_rate = await throughput(server.url, log, true_n, TRUE, conc, "true")
    out |= {
        "trigger_to_start_p50_ms": rnd(percentile(lat, 50), 2),
        "trigger_to_start_p99_ms": rnd(percentile(lat, 99), 2),
        "executor_runs_per_s": rnd(noop, 0),
        "executor_runs_per_s_concurrency4": rnd(noop_default, 0),
        "executor_true_runs_per_s": rnd(true_rate, 0),
        "notes": [
            "executor_speed: one Executor on its own connection serving 'default'; latency over "
            f"{lat_n} noop triggers 20 ms apart (RunStarted stored − RunTriggered stored, "
            f"concurrency 4); runs/s = {noop_n} noop (concurrency {conc}; also {noop_n // 4} at "
            f"the default 4) and {true_n} `true` subprocess triggers published at once, first "
            "trigger stored → last RunSucceeded stored",
        ],
    }
    return out


def _importable() -> str | None:
    try:
        import jetcron.executors.agent  # noqa: F401
    except Exception as err:  # noqa: BLE001 - any import failure means "not measurable"
        return f"{type(err).__name__}: {err}"
    return None


async def run(quick: bool, *, _probe: Callable[[], str | None] = _importable) -> dict[str, Any]:
    """Executor figures; null with a note when the executor cannot be imported."""
    problem = _probe()
    if problem is not None:
        return _NULLS | {
            "notes": [
                f"executor_speed: jetcron.executors.agent not importable ({problem}); "
                "executor figures are null"
            ]
        }
    started = time.perf_counter()
    out = await measure(quick)
    out["notes"].append(f"executor_speed: took {time.perf_counter() - started:.1f}s")
    return out
