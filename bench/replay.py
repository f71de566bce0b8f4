"""Replay: read the whole log and fold it into every projection, against a raw read + decode."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from bench.common import (
    CpuMeter,
    RawPublisher,
    connected,
    created_envelope,
    nats_server,
    per_s,
    raw_replay,
    rnd,
    sample_job,
    trigger_envelope,
)
from bench.spec_speed import sample_specs
from jetcron import ids, subjects
from jetcron.domain.envelope import Envelope, encode
from jetcron.domain.events import Event, RunFailed, RunStarted, RunSucceeded
from jetcron.log.stream import EventLog
from jetcron.memory import collector_paused
from jetcron.projections.state import Views, apply_batch

SCHEDULES = 1000
ROUNDS = 3
"""Interleaved passes of raw read, read and fold over the same log."""
EXECUTORS = 7


def history(n: int, start: datetime) -> Iterator[tuple[str, bytes, None]]:
    """n encoded events of a busy fleet: schedules created, then runs that trigger, start and
    succeed (every 10th fails once and is retried); (subject, payload, headers) in log order."""
    from jetcron.domain.definition import ScheduleDefinition

    specs = sample_specs(SCHEDULES)
    emitted = 0
    for i, (spec, tz) in enumerate(specs):
        d = ScheduleDefinition(spec=spec, tz=tz, job=sample_job(i), overlap="allow")
        yield subjects.schedule(f"job-{i}"), encode(created_envelope(f"job-{i}", d, start)), None
        emitted += 1
    minute = 0
    while True:
        minute += 1
        fire_time = start + timedelta(minutes=minute)
        for i in range(SCHEDULES):
            for subject, envelope in _run(i, minute, fire_time):
                if emitted >= n:
                    return
                yield subject, encode(envelope), None
                emitted += 1


def _run(i: int, minute: int, fire_time: datetime) -> Iterator[tuple[str, Envelope]]:
    trigger = trigger_envelope(i, fire_time)
    yield subjects.trigger("default"), trigger
    t = trigger.event
    host = f"host-{i % EXECUTORS}"
    base = {
        "schedule_id": t.schedule_id,
        "name": t.name,
        "fire_id": t.fire_id,
        "fire_time": fire_time,
        "run_id": t.run_id,
        "executor": host,
    }
    # why: as real executors write them (the writer named), so the claims check runs in full
    run_subject = subjects.run_by(t.name, t.run_id, t.target, host)
    at = fire_time + timedelta(milliseconds=3)

    def env(event: Event, dt: float) -> tuple[str, Envelope]:
        return run_subject, Envelope(
            id=ids.new_id(), at=at + timedelta(seconds=dt), actor=host, event=event
        )  # type: ignore[arg-type]

    yield env(RunStarted(**base, pid=1000 + i), 0)
    if (minute + i) % 10 == 0:
        yield env(
            RunFailed(
                **base,
                exit_code=1,
                error="exit status 1",
                duration_s=1.2,
                next_retry_at=at + timedelta(seconds=11),
            ),
            1.2,
        )
        yield env(RunStarted(**base, attempt=2, pid=2000 + i), 11)
        yield env(RunSucceeded(**base, attempt=2, duration_s=1.5), 12.5)
    else:
        yield env(RunSucceeded(**base, duration_s=1.5), 1.5)


async def _fold(log: EventLog) -> tuple[Views, int]:
    """The log into fresh views as `jetcron replay` folds it (cli/replaying.rebuild): the cycle
    collector paused, batches as they arrive."""
    views, n = Views(), 0
    with collector_paused():
        async for batch in log.read():
            apply_batch(views, batch)
            n += len(batch)
    return views, n


async def _read_only(log: EventLog) -> int:
    n = 0
    async for batch in log.read():
        n += len(batch)
    return n


def _median(meters: list[CpuMeter]) -> CpuMeter:
    """The meter of the median wall time."""
    return sorted(meters, key=lambda m: m.wall_s)[len(meters) // 2]


def _fold_only_us(rounds: list[tuple[CpuMeter, CpuMeter, CpuMeter]], n: int) -> float:
    """Client CPU per event of the folds alone: read+fold less read, in the same round (median).

    why: of the client's CPU, this is the part the views cost; load moves both passes of a
    round alike, so their difference is steadier than either."""
    diffs = sorted((fold.client_s - read.client_s) / n * 1e6 for _, read, fold in rounds)
    return round(diffs[len(diffs) // 2], 2)


async def measure(n: int) -> dict[str, Any]:
    """Write n events, then time raw read+decode, EventLog.read alone, and read+fold."""
    from jetcron.clock import SystemClock

    # why two connections: EventLog's reader patches its connection's parser (log/fastsub.py);
    # the raw baseline is a plain nats-py read, so it reads on a connection left as nats-py made it
    async with (
        nats_server("replay") as server,
        connected(server.url) as nc,
        connected(server.url) as plain,
    ):
        log = await EventLog(nc).open()
        try:
            started = time.perf_counter()
            async with RawPublisher(nc) as pub:
                written, _ = await pub.run(history(n, SystemClock().now() - timedelta(days=30)))
            write_s = time.perf_counter() - started
            rounds = []
            for _ in range(ROUNDS):
                with CpuMeter(server) as raw:
                    raw_n, _ = await raw_replay(plain, subjects.STREAM)
                with CpuMeter(server) as read:
                    read_n = await _read_only(log)
                with CpuMeter(server) as fold:
                    views, fold_n = await _fold(log)
                rounds.append((raw, read, fold))
                position, poison = views.position, views.poison
                # why: each round starts from the same heap; the previous round's views, alive
                # through the next round, were freed inside its timed fold and slowed its reads
                del views
                gc.collect()
        finally:
            await log.close()
    # why: on a shared 2-core machine one pass swings +-30 %; each figure is its median round
    raw, read, fold = (_median([r[i] for r in rounds]) for i in range(3))
    if not raw_n == read_n == fold_n == written or position != written or poison:
        raise RuntimeError(
            f"replay mismatch: wrote {written}, raw {raw_n}, read {read_n}, "
            f"folded {fold_n} to position {position} with {poison} poison"
        )
    rate = per_s(fold_n, fold.wall_s)
    return {
        "replay_count": n,
        "raw_replay_per_s": rnd(per_s(raw_n, raw.wall_s), 0),
        "replay_read_per_s": rnd(per_s(read_n, read.wall_s), 0),
        "replay_events_per_s": rnd(rate, 0),
        "rebuild_seconds_1m": rnd(1_000_000 / rate if rate else None, 2),
        "raw_replay_cpu_us": raw.us_per(raw_n),
        "replay_read_cpu_us": read.us_per(read_n),
        "replay_cpu_us": fold.us_per(fold_n),
        "replay_fold_cpu_us": _fold_only_us(rounds, written),
        "notes": [
            f"replay: {ROUNDS} interleaved rounds, each figure its median; {n} events ({SCHEDULES} schedules, then trigger/start/succeed runs, 10% "
            f"with a failed first attempt) written in {write_s:.1f}s; raw = plain nats-py subscription on its own connection, own MSG.NEXT loop + "
            "msgspec Envelope decode; replay_read = EventLog.read only; replay = EventLog.read + "
            "apply_batch into Views(); replay_fold_cpu_us = client CPU of replay less "
            "replay_read in the same round (median)"
            + (
                ""
                if n >= 1_000_000
                else f"; rebuild_seconds_1m extrapolated from the {n}-event rate"
            ),
        ],
    }


async def run(quick: bool) -> dict[str, Any]:
    """The replay figures."""
    return await measure(200_000 if quick else 1_000_000)
