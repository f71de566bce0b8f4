"""CLI latency: wall time of `jetcron --version`, `preview` and `schedule list`, against bare Python.

Every figure is the p50 of fresh processes, measured round-robin in the same run so load on
the machine weighs on all of them alike (each also as `..._cpu_ms`, the child's user + system
time, which load on the machine barely moves):
  python_startup_ms  `python -c pass`                    (a bare interpreter)
  cli_floor_ms       `python -c "import nats, typer"`    (what a query command cannot avoid)
  typer_import_ms    `python -c "import typer"`          (what --help and preview cannot avoid)
  cli_version_ms     `jetcron --version`                 (target: <= python_startup_ms + 150)
  cli_help_ms        `jetcron --help`                    (target: <= python_startup_ms + 150)
  cli_preview_ms     `jetcron preview '0 3 * * *'`       (target: <= python_startup_ms + 150)
  cli_list_ms        `jetcron schedule list` against a local `jetcron serve`
                                                         (target: <= cli_floor_ms + 100)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import nats_server

NO_NATS_BUDGET_MS = 150.0
"""--help, --version, preview: at most this much over a bare interpreter."""
QUERY_BUDGET_MS = 100.0
"""A query command: at most this much over `import nats, typer`."""


def jetcron_argv() -> list[str]:
    """The console script next to this interpreter (what users run), else `python -m jetcron`."""
    script = Path(sys.executable).with_name("jetcron")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jetcron"]


def timed(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one process from spawn to exit; it must succeed.

    The CPU time (user + system of the child) barely moves with load on the machine, so it
    says what the command costs when the wall time is inflated by other work.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - started) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read()[-500:] if proc.stderr else b""
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err!r}")
    if proc.stderr:
        proc.stderr.close()
    return elapsed, (usage.ru_utime + usage.ru_stime) * 1000


def p50_round_robin(
    commands: dict[str, list[str]], rounds: int, env: dict[str, str]
) -> dict[str, float]:
    """Median wall and CPU time of each command over `rounds` interleaved rounds, after a warm-up."""
    for argv in commands.values():
        timed(argv, env)  # why: the first run pays for cold page cache and .pyc writes
    walls: dict[str, list[float]] = {key: [] for key in commands}
    cpus: dict[str, list[float]] = {key: [] for key in commands}
    for _ in range(rounds):
        for key, argv in commands.items():
            wall, cpu = timed(argv, env)
            walls[key].append(wall)
            cpus[key].append(cpu)
    out = {key: round(statistics.median(v), 1) for key, v in walls.items()}
    out |= {
        key.replace("_ms", "_cpu_ms"): round(statistics.median(v), 1) for key, v in cpus.items()
    }
    return out


def serve(url: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A `jetcron serve` on url, answering queries once this returns."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*jetcron_argv(), "serve", "--server", url], stdout=out, stderr=out, env=env
        )
    deadline = time.monotonic() + 30
    probe = [*jetcron_argv(), "-s", url, "status"]
    while subprocess.run(probe, capture_output=True, env=env, check=False).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"jetcron serve did not come up: {log.read_text()[-1000:]}")
        time.sleep(0.2)
    return proc


def measure(url: str, rounds: int, schedules: int, tmp: Path) -> dict[str, float]:
    """Every figure against the nats-server at url."""
    env = {**os.environ, "NATS_URL": url, "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
    env.pop("JETCRON_LOG_LEVEL", None)
    # why: an installed jetcron runs from bytecode; with PYTHONDONTWRITEBYTECODE every module
    # would be compiled from source on every run. The warm-up writes it (outside the tree).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cli = jetcron_argv()
    proc = serve(url, env, tmp / "serve.log")
    try:
        for i in range(schedules):
            add = [*cli, "schedule", "add", f"s{i}", f"@every {10 + i}m", "--", "true"]
            subprocess.run(add, capture_output=True, env=env, check=True, timeout=30)
        figures = p50_round_robin(
            {
                "python_startup_ms": [sys.executable, "-c", "pass"],
                "cli_floor_ms": [sys.executable, "-c", "import nats, typer"],
                "typer_import_ms": [sys.executable, "-c", "import typer"],
                "cli_version_ms": [*cli, "--version"],
                "cli_help_ms": [*cli, "--help"],
                "cli_preview_ms": [*cli, "preview", "0 3 * * *", "--tz", "Europe/Berlin"],
                "cli_list_ms": [*cli, "schedule", "list"],
            },
            rounds,
            env,
        )
    finally:
        proc.terminate()
        proc.wait(20)
    return figures | derived(figures) | {"cli_rounds": rounds}


def derived(f: dict[str, float]) -> dict[str, float]:
    """The budgets' figures: each command over its baseline, measured in the same run."""
    out = {}
    for unit in ("ms", "cpu_ms"):
        start, floor = f[f"python_startup_{unit}"], f[f"cli_floor_{unit}"]
        for name in ("version", "help", "preview"):
            out[f"cli_{name}_over_python_{unit}"] = round(f[f"cli_{name}_{unit}"] - start, 1)
        out[f"cli_list_over_floor_{unit}"] = round(f[f"cli_list_{unit}"] - floor, 1)
    return out


async def run(quick: bool) -> dict[str, Any]:
    """The figures: 7 rounds quick, 21 full."""
    async with nats_server("cli") as server:
        tmp = server.data_dir.parent  # why: removed with the server
        return await asyncio.to_thread(measure, server.url, 7 if quick else 21, 5, tmp)
