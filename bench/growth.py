"""Growth: a real `jetcron serve` over 1M and 3M (10M in the full run) run events — its RSS, its
restart time, the latency of `runs list --schedule X --limit 50` and `stats` through the query
service, and the log's disk bytes per run. Flat RSS as history grows is the goal.

The quick run estimates 10M from 1M and 3M (keys ending `_est`): RSS and restart time as the
straight line through the two measured sizes, extended to 10M (flat stays flat; whatever grew
from 1M to 3M grows 3.5 times as much again from 3M to 10M)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from nats.aio.client import Client

from bench.common import bulk_write, connected, load_average, nats_server, rnd
from bench.history import Fleet, now
from jetcron import subjects
from jetcron.client import query
from jetcron.log.stream import EventLog
from jetcron.serverproc import _pdeathsig_preexec

QUERY_REPEATS = 15
STATS_REPEATS = 5
"""`stats` over every schedule takes seconds at these sizes (it walks the rows kept); fewer."""
POLL_S = 0.5
"""How often `status` is asked while waiting (it walks the rows kept too: not for free)."""
CATCH_UP_TIMEOUT_S = 900.0
NEVER_DUE = "0 0 29 2 *"
"""29 February: not due in any bench run but one day in four years."""
ROLLUP_WAIT_S = 65.0
"""How long after catching up RSS is taken again: serve's leader rolls up the days it saw end
once a minute, and only while its views are current, so a serve that caught up with days of
history holds each schedule's open day digests (~1-2 KB each) until its next pass."""
KEEP_RUNS = 100
"""serve --keep-runs: 2,000 schedules x 100 runs fill the windows by ~640k events, so 1M and 3M
compare a serve whose views are full (what a long-running serve looks like)."""


class Serve:
    """`jetcron serve` against a server as a child process, started and stopped at will."""

    def __init__(self, url: str, log_path: str, keep_runs: int = KEEP_RUNS) -> None:
        self.url, self.log_path, self.keep_runs = url, log_path, keep_runs
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        """A new serve process (its output appended to log_path)."""
        import jetcron

        # why: the serve of this checkout, not whatever jetcron the venv has installed
        src = str(Path(jetcron.__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path)
        with open(self.log_path, "ab") as out:
            argv = [sys.executable, "-m", "jetcron", "serve", "--server", self.url]
            self.proc = subprocess.Popen(
                [*argv, "--keep-runs", str(self.keep_runs)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                # why: the runner kills this module at its time limit; serve must go with it
                preexec_fn=_pdeathsig_preexec(),
            )
        return self.proc

    def stop(self) -> None:
        """SIGTERM (it snapshots on the way out); kill after a minute."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


PROGRESS: dict[str, int] = {"position": 0}
"""The last view position serve reported (said when the budget runs out)."""


async def caught_up(nc: Client, proc: subprocess.Popen[bytes], target: int) -> float:
    """Wait until serve's views reflect sequence `target`; seconds waited."""
    started = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jetcron serve exited with {proc.returncode}")
        with contextlib.suppress(Exception):
            # why: a query waits up to 2 s for the views to reach the log's end (read-your-
            # writes), so while serve is behind a 2 s timeout never sees its progress
            status = await query(nc, "status", timeout=10.0)
            PROGRESS["position"] = status["projection"]["position"]
            if PROGRESS["position"] >= target:
                return time.perf_counter() - started
        if time.perf_counter() - started > CATCH_UP_TIMEOUT_S:
            raise RuntimeError(f"serve did not reach seq {target} in {CATCH_UP_TIMEOUT_S}s")
        await asyncio.sleep(POLL_S)


async def caught_up_to_end(nc: Client, proc: subprocess.Popen[bytes]) -> int:
    """Wait until serve's views reflect the log's end as it is now; that sequence."""
    last = await EventLog(nc).last_seq()
    await caught_up(nc, proc, last)
    return last


def rss_of(proc: subprocess.Popen[bytes]) -> float:
    """Resident memory of the serve process, MiB."""
    return float(psutil.Process(proc.pid).memory_info().rss) / 2**20


async def query_ms(
    nc: Client, view: str, params: dict[str, Any], repeats: int = QUERY_REPEATS
) -> float:
    """Median round trip of one query through the real service, ms (one warm-up first)."""
    await query(nc, view, params, timeout=30)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        await query(nc, view, params, timeout=30)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


class Growth:
    """One log growing through the sizes, one serve following it."""

    def __init__(
        self, nc: Client, fleet: Fleet, sizes: list[int], rollup_wait_s: float = ROLLUP_WAIT_S
    ) -> None:
        self.nc, self.fleet, self.sizes = nc, fleet, sizes
        self.rollup_wait_s = rollup_wait_s
        self.now = now()
        # why: the whole history lies in the past, as a live fleet's does, so serve's leader
        # rolls up each day it sees end (a history running past now left 13 days open)
        self.runs = fleet.runs(sizes[-1], self.now)
        self.written = 0
        self.appended_by_serve = 0
        self.out: dict[str, Any] = {}

    async def grow_to(self, n: int) -> int:
        """Append whole runs until about n events are stored; the stream's last sequence."""
        written = self.written

        def events() -> Iterator[tuple[str, bytes]]:
            nonlocal written
            for fire_time, run in self.runs:
                if written >= n or fire_time > self.now:
                    self.runs = itertools.chain([(fire_time, run)], self.runs)
                    return
                written += len(run)
                yield from run

        self.written += await bulk_write(self.nc, events())
        log = EventLog(self.nc)
        # why: bulk_write waits for the ack of every 1000th message only; the tail may still
        # be on its way into the stream
        last = await log.last_seq()
        for _ in range(200):
            if last >= self.written:
                break
            await asyncio.sleep(0.05)
            last = await log.last_seq()
        # why: a live serve appends too (a fire that came due while the log was written)
        self.appended_by_serve = last - self.written
        return last

    async def step(self, n: int, proc: subprocess.Popen[bytes]) -> str:
        """Grow to n, wait for serve to catch up, measure; a line for the notes."""
        t0 = time.perf_counter()
        last = await self.grow_to(n)
        wrote = time.perf_counter() - t0
        waited = await caught_up(self.nc, proc, last)
        await asyncio.sleep(1.0)  # why: let the service settle after the catch-up (GC, snapshot)
        self.out[f"serve_rss_mib_{_label(n)}_events_caught_up"] = rnd(rss_of(proc), 1)
        # why: the days the leader rolls up after the catch-up, folded (see ROLLUP_WAIT_S)
        await asyncio.sleep(self.rollup_wait_s)
        last = await caught_up_to_end(self.nc, proc)
        await self.measure(_label(n), proc, last)
        return f"{_label(n)}: {last} events written in {wrote:.1f}s, caught up {waited:.1f}s after"

    async def restart(self, serve: Serve, n: int) -> subprocess.Popen[bytes]:
        """Stop serve, start a new one, time it until its views are current again."""
        serve.stop()
        t0 = time.perf_counter()
        proc = serve.start()
        await caught_up(self.nc, proc, self.written)
        self.out[f"restart_seconds_{_label(n)}_events"] = rnd(time.perf_counter() - t0, 2)
        self.out[f"serve_rss_mib_{_label(n)}_events_restarted"] = rnd(rss_of(proc), 1)
        return proc

    async def measure(self, label: str, proc: subprocess.Popen[bytes], last: int) -> None:
        """RSS, query times and disk per run at this size."""
        name = self.fleet.names()[self.fleet.schedules // 2]
        info = await self.nc.jetstream().stream_info(subjects.STREAM)
        self.out |= {
            f"serve_rss_mib_{label}_events": rnd(rss_of(proc), 1),
            f"runs_query_ms_{label}_events": rnd(
                await query_ms(self.nc, "runs", {"schedule": name, "limit": 50}), 2
            ),
            f"stats_query_ms_{label}_events": rnd(
                await query_ms(self.nc, "stats", {"schedule": None}, STATS_REPEATS), 2
            ),
            f"disk_bytes_per_run_{label}_events": rnd(
                info.state.bytes / max(1, _runs(last, self.fleet)), 0
            ),
            f"growth_load_average_{label}": load_average(),
            f"growth_events_{label}": last,
        }


def _estimates(out: dict[str, Any], sizes: list[int]) -> dict[str, Any]:
    """10M figures extended from the two first sizes, when 10M itself was not measured."""
    if 10_000_000 in sizes or len(sizes) < 2:
        return {}
    a, b = sizes[0], sizes[1]
    est: dict[str, Any] = {}
    for key in ("serve_rss_mib_{}_events", "restart_seconds_{}_events"):
        ya, yb = out.get(key.format(_label(a))), out.get(key.format(_label(b)))
        if ya is not None and yb is not None:
            est[key.format("10m") + "_est"] = rnd(yb + (yb - ya) * (10_000_000 - b) / (b - a), 2)
    return est


def _ratio(a: float | None, b: float | None) -> float | None:
    return rnd(a / b, 3) if a and b else None


def _runs(events: int, fleet: Fleet) -> float:
    # why: every run writes 3 events, or 5 when its first attempt failed (one in ten)
    return (events - fleet.schedules) / 3.2


def _label(n: int) -> str:
    return f"{n // 1_000_000}m" if n >= 1_000_000 else f"{n // 1000}k"


async def measure(
    sizes: list[int],
    schedules: int = 2000,
    budget_s: float | None = None,
    rollup_wait_s: float = ROLLUP_WAIT_S,
) -> dict[str, Any]:
    """Grow one log through `sizes` under a live serve; restart it at each size.

    With a budget, what was measured when it runs out is reported (and says so) rather than
    lost to the runner's time limit.
    """
    # why: a spec that does not come due while the history (which ends before now until the
    # last size) is followed: a live ticker would record every hour since as missed
    fleet = Fleet(schedules, spec=NEVER_DUE)
    second_size = sizes[min(1, len(sizes) - 1)]
    async with nats_server("growth") as server, connected(server.url) as nc:
        await EventLog(nc).open()
        growth = Growth(nc, fleet, sizes, rollup_wait_s)
        log_path = str(server.data_dir.parent / "serve.log")
        steps: list[str] = []
        await growth.grow_to(sizes[0])
        serve = Serve(server.url, log_path)
        proc = serve.start()
        try:
            async with asyncio.timeout(budget_s):
                for n in sizes:
                    steps.append(await growth.step(n, proc))
                    proc = await growth.restart(serve, n)
        except TimeoutError:
            steps.append(
                f"STOPPED at the {budget_s:.0f}s budget with {growth.written} events written, "
                f"serve's views at seq {PROGRESS['position']} (machine too busy?)"
            )
        finally:
            serve.stop()
    out = growth.out
    first, second = _label(sizes[0]), _label(second_size)
    out |= _estimates(out, sizes) | {
        "growth_sizes": sizes,
        "growth_schedules": schedules,
        "runs_query_ms": out.get(f"runs_query_ms_{second}_events"),
        "stats_query_ms": out.get(f"stats_query_ms_{second}_events"),
        "disk_bytes_per_run": out.get(f"disk_bytes_per_run_{second}_events"),
        "serve_rss_growth_ratio": _ratio(
            out.get(f"serve_rss_mib_{second}_events"), out.get(f"serve_rss_mib_{first}_events")
        ),
        "serve_rss_growth_ratio_caught_up": _ratio(
            out.get(f"serve_rss_mib_{second}_events_caught_up"),
            out.get(f"serve_rss_mib_{first}_events_caught_up"),
        ),
        "restart_growth_ratio": _ratio(
            out.get(f"restart_seconds_{second}_events"),
            out.get(f"restart_seconds_{first}_events"),
        ),
        "notes": [
            f"growth: one log grown to {', '.join(_label(n) for n in sizes)} events "
            f"({schedules} hourly schedules; runs trigger/start/succeed, every 10th fails once "
            "and is retried, every 4th success carries ~550 B of stdout, failures ~70 B of "
            "stderr), written with a plain publish (an ack every 1000th message); a real "
            f"`jetcron serve --keep-runs {KEEP_RUNS}` (child process) follows it live; RSS "
            f"once caught up and again {rollup_wait_s:.0f} s later, with the days its leader "
            "rolled up meanwhile folded (serve_rss_mib_*: the second; *_caught_up: the first); "
            "queries = "
            f"median of {QUERY_REPEATS} `runs` (--schedule X --limit 50) / {STATS_REPEATS} `stats` requests "
            "through the query service (NATS round trip included); restart at each size = "
            "SIGTERM (it checkpoints on the way out), then a new serve until its views "
            f"reach the end of the log; serve_rss_growth_ratio = RSS at {second} / at {first}, "
            "restart_growth_ratio likewise; the history lies in the past (it ends at now with "
            "the last size), so serve's leader rolls up each day as it sees it end, as in a "
            f"live fleet; the schedules' spec is `{NEVER_DUE}` so that its live ticker finds "
            "nothing due or missed; "
            "_est keys: the line through the two measured sizes extended to 10M; "
            + "; ".join(steps),
        ],
    }
    return out


async def run(quick: bool) -> dict[str, Any]:
    """The growth figures."""
    if quick:
        return await measure([1_000_000, 3_000_000], budget_s=720)
    return await measure([1_000_000, 3_000_000, 10_000_000], budget_s=3300)
