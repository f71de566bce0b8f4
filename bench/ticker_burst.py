"""The real ticker on the real clock: a 10k same-second burst, and lateness of sparse fires."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bench.common import (
    CpuMeter,
    create_schedules,
    epoch_ns,
    event_log,
    next_whole_second,
    now,
    percentile,
    read_events,
    rnd,
    sleep_until,
    wait_until,
)
from jetcron import subjects
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import RunTriggered, ScheduleCompleted
from jetcron.log.lease import SoloLease
from jetcron.scheduler.ticker import Ticker

NOOP = Job(action="noop")
# why: no executor runs here, so every run stays in flight; "skip" would turn later fires into skips
ALLOW = "allow"


def _every_minute_at(due: datetime) -> str:
    # why: @every is epoch-aligned, so offset = the due second within the minute fires all at `due`
    return f"@every 60s offset {due.second}s" if due.second else "@every 60s"


def _at(due: datetime) -> str:
    return f"@at {due.isoformat()}"


def _triggers(events: list[StoredEvent]) -> list[StoredEvent]:
    return [e for e in events if isinstance(e.envelope.event, RunTriggered)]


async def burst(
    n: int = 10_000,
    *,
    spec_for: Callable[[datetime], str] = _every_minute_at,
    lead_s: float = 12.0,
    wait_completed: bool = False,
) -> dict[str, Any]:
    """n schedules due in one second; seconds from it until the n-th RunTriggered is stored."""
    async with event_log("burst") as (server, _, log):
        due = next_whole_second(lead_s)
        spec = spec_for(due)
        await create_schedules(
            log,
            (
                (f"burst-{i:05d}", ScheduleDefinition(spec=spec, job=NOOP, overlap=ALLOW))
                for i in range(n)
            ),
        )
        if now() > due - timedelta(seconds=1):
            raise RuntimeError("set-up took longer than the lead time; raise lead_s")
        ticker, stop = Ticker(log, lease=SoloLease()), asyncio.Event()
        task = asyncio.create_task(ticker.run(stop))
        await sleep_until(due)
        with CpuMeter(server) as cpu:
            fired = await wait_until(lambda: ticker.firing.emitted >= n or task.done(), timeout=60)
        completed_s = None
        if wait_completed:
            # why: the first completion may land seconds after the triggers (a load per schedule)
            await _wait_progress(lambda: _completed(ticker), n, stall_s=10.0, timeout=60)
        error = await _stop(task, stop)
        triggers = _triggers(await read_events(log, subjects_=[subjects.TRIGGERS]))
        completions = [
            e
            for e in await read_events(log, subjects_=[subjects.SCHEDULES])
            if isinstance(e.envelope.event, ScheduleCompleted)
        ]
    error = _with_crash(error, task)
    stored = sorted(e.stored_ns for e in triggers)
    due_ns = epoch_ns(due)
    if len(completions) == n:
        completed_s = (max(e.stored_ns for e in completions) - due_ns) / 1e9
    if not fired or len(triggers) != n:
        error = (
            error
            or f"{len(triggers)} of {n} triggers stored (ticker emitted {ticker.firing.emitted})"
        )
    return {
        "spec": spec,
        "error": error,
        "triggers": len(triggers),
        "seconds": rnd((stored[-1] - due_ns) / 1e9, 3) if len(stored) == n else None,
        "first_ms": rnd((stored[0] - due_ns) / 1e6, 1),
        "client_cpu_s": rnd(cpu.client_s, 2),
        "completed_seconds": rnd(completed_s, 2),
        "completions": len(completions),
    }


async def _wait_progress(
    count: Callable[[], int], target: int, *, stall_s: float, timeout: float
) -> bool:
    """Wait until count() reaches target; give up when it stops moving for stall_s."""
    deadline = asyncio.get_running_loop().time() + timeout
    last, last_change = count(), asyncio.get_running_loop().time()
    while (current := count()) < target:
        t = asyncio.get_running_loop().time()
        if current != last:
            last, last_change = current, t
        if t - last_change > stall_s or t > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _completed(ticker: Ticker) -> int:
    return sum(e.completed for e in ticker.state.entries.values())


async def _stop(task: asyncio.Task[None], stop: asyncio.Event) -> str | None:
    """Stop the ticker; a description of what went wrong (crash, hang), or None."""
    stop.set()
    done, _ = await asyncio.wait({task}, timeout=5)
    cancels = 0
    # why: Ticker.run can hang on stop (its follow reader swallows a cancel under Python 3.11's
    # wait_for); keep cancelling so the benchmark ends and the hang is reported, not hidden.
    while not done and cancels < 3:
        task.cancel()
        cancels += 1
        done, _ = await asyncio.wait({task}, timeout=1)
    problems: list[str] = []
    if cancels:
        problems.append(
            f"Ticker.run did not return within 5 s of stop; {cancels} cancel(s) "
            + ("ended it" if done else "did not end it (closing the connection did)")
        )
    return " / ".join(problems) or None


def _with_crash(error: str | None, task: asyncio.Task[None]) -> str | None:
    """Add the ticker's own exception (retrieved once it has ended) to the problem text."""
    if not task.done() or task.cancelled() or (err := task.exception()) is None:
        return error
    leaves = err.exceptions if isinstance(err, BaseExceptionGroup) else [err]
    crash = "Ticker.run raised " + "; ".join(f"{type(e).__name__}: {e}" for e in leaves)
    return f"{error} / {crash}" if error else crash


async def sparse(n: int = 200, period_s: int = 20) -> dict[str, Any]:
    """n schedules `@every period offset k*period/n`: lateness = stored time − nominal fire time."""
    step_ms = period_s * 1000 // n
    names = [
        (
            f"sparse-{k:04d}",
            f"@every {period_s}s offset {k * step_ms}ms" if k else f"@every {period_s}s",
        )
        for k in range(n)
    ]
    async with event_log("sparse") as (_, _, log):
        await create_schedules(
            log,
            (
                (name, ScheduleDefinition(spec=spec, job=NOOP, overlap=ALLOW))
                for name, spec in names
            ),
        )
        ticker, stop = Ticker(log, lease=SoloLease()), asyncio.Event()
        task = asyncio.create_task(ticker.run(stop))
        await ticker.fold.caught_up.wait()
        # why: skip fires during start-up; measure one full period of steady state
        start = now() + timedelta(seconds=1)
        end = start + timedelta(seconds=period_s)
        await sleep_until(end + timedelta(seconds=0.5))
        error = await _stop(task, stop)
        triggers = _triggers(await read_events(log, subjects_=[subjects.TRIGGERS]))
    error = _with_crash(error, task)
    lateness = [
        (e.stored_ns - epoch_ns(e.envelope.event.fire_time)) / 1e6
        for e in triggers
        if start <= e.envelope.event.fire_time < end
    ]  # type: ignore[union-attr]
    if len(lateness) < n * 0.9:
        raise RuntimeError(f"only {len(lateness)} sparse fires in the window, expected ~{n}")
    return {
        "lateness_p50_ms": rnd(percentile(lateness, 50), 2),
        "lateness_p99_ms": rnd(percentile(lateness, 99), 2),
        "lateness_max_ms": rnd(max(lateness), 2),
        "sparse_fires": len(lateness),
        "error": error,
    }


async def run(quick: bool) -> dict[str, Any]:
    """Burst and sparse-lateness figures."""
    every = await burst(10_000)
    out: dict[str, Any] = {
        "burst_10k_seconds": every["seconds"],
        "burst_10k_first_ms": every["first_ms"],
        "burst_10k_client_cpu_s": every["client_cpu_s"],
    }
    at = await burst(10_000, spec_for=_at, wait_completed=True)
    out |= {
        "burst_10k_at_seconds": at["seconds"],
        "burst_10k_at_completed_seconds": at["completed_seconds"],
        "burst_10k_at_triggers_stored": at["triggers"],
        "burst_10k_at_completions_stored": at["completions"],
    }
    period = 20 if quick else 60
    sparse_out = await sparse(200, period)
    out |= {k: v for k, v in sparse_out.items() if k != "error"}
    notes = [
        f"ticker_burst: 10,000 schedules '{every['spec']}' (all due in the same second), "
        "real Ticker.run with SystemClock and SoloLease, created 12 s ahead (the ticker plans a "
        "burst up to 5 s before it is due, once it has read the schedules); seconds from the "
        "due second to the 10,000th RunTriggered's server store time; first_ms = the first one",
        "ticker_burst: burst_10k_at_* = the same with one-off '@at' specs: each fire is "
        "followed by CompleteSchedule through the command handler "
        f"({at['completions']} ScheduleCompleted stored)",
        f"ticker_burst: lateness over 200 schedules '@every {period}s offset "
        f"k*{period * 1000 // 200}ms', one period of steady state; lateness = server store "
        "time of RunTriggered − nominal fire time",
    ]
    for label, result in (("@every burst", every), ("@at burst", at), ("sparse", sparse_out)):
        if result["error"]:
            notes.append(f"ticker_burst: PROBLEM in the {label} run: {result['error']}")
    out["ticker_problems"] = sum(bool(r["error"]) for r in (every, at, sparse_out))
    out["notes"] = notes
    return out
