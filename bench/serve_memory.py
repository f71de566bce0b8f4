"""Where a live `serve`'s memory goes as history grows: growth's history and serve (bench/growth.py),
the serve run under bench/serve_probe.py and probed once caught up at each size (and at the
first size once restarted, as growth restarts it), with no time budget.

    python -m bench.serve_memory [--steps 1000000,2000000,3000000] [--settle 65] [--out p.jsonl]

Prints one line per probe (RSS, glibc arena in use / free, pymalloc arenas, bytes in allocated
and available blocks, gc-tracked objects); the whole record per probe goes to --out (JSON
lines). --settle S: probe again S seconds later (the leader's rollups folded). Environment for
the probe (bench/serve_probe.py): PROBE_TRIM_TOO, PROBE_TRACEMALLOC.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import growth as g
from bench.common import connected, nats_server
from bench.history import Fleet
from jetcron.log.stream import EventLog
from jetcron.serverproc import _pdeathsig_preexec

PROBE = str(Path(__file__).with_name("serve_probe.py"))


class ProbedServe(g.Serve):
    """growth's serve, run under the probe."""

    def __init__(self, url: str, log_path: str, out: str) -> None:
        super().__init__(url, log_path)
        self.out = out

    def start(self) -> subprocess.Popen[bytes]:
        """A new probed serve process of this checkout."""
        import jetcron

        src = str(Path(jetcron.__file__).resolve().parents[1])
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=src, PROBE_OUT=self.out)
        argv = [sys.executable, PROBE, "serve", "--server", self.url]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*argv, "--keep-runs", str(self.keep_runs)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_pdeathsig_preexec(),
            )
        return self.proc


def _tag(out: str, tag: str) -> None:
    Path(out + ".tag").write_text(tag)


def _lines(path: str) -> list[str]:
    return Path(path).read_text().splitlines() if os.path.exists(path) else []


def _summary(tag: str, rec: dict[str, Any]) -> str:
    mi, pm, mib = rec["mallinfo"], rec["pymalloc"], 2**20
    return (
        f"{tag}: rss {rec['rss_mib']:.1f} cpu {rec['cpu_s']:.1f} "
        f"glibc used {mi['uordblks'] / mib:.1f} free {mi['fordblks'] / mib:.1f} "
        f"mmapped {mi['hblkhd'] / mib:.1f} arenas {len(rec['heaps'])} | "
        f"pymalloc arenas {pm.get('arenas allocated current')} "
        f"allocated {pm.get('bytes in allocated blocks', 0) / mib:.1f} "
        f"available {pm.get('bytes in available blocks', 0) / mib:.1f} | "
        f"gc objects {rec['gc_objects']} trimmed {rec.get('after_trim_rss_mib')}"
    )


async def probe(proc: subprocess.Popen[bytes], out: str, tag: str) -> dict[str, Any]:
    """Ask the serve for one record; print its summary."""
    await asyncio.sleep(1.0)
    _tag(out, tag)
    before = len(_lines(out))
    proc.send_signal(signal.SIGUSR1)
    for _ in range(1200):
        await asyncio.sleep(0.5)
        lines = _lines(out)
        if len(lines) > before:
            rec: dict[str, Any] = json.loads(lines[-1])
            print(_summary(tag, rec), flush=True)
            return rec
    raise RuntimeError("the probe did not answer")


async def main(steps: list[int], settle_s: float, out: str) -> None:
    """Grow the log through `steps` under one probed serve."""
    fleet = Fleet(2000, spec=g.NEVER_DUE)
    async with nats_server("serve-memory") as server, connected(server.url) as nc:
        await EventLog(nc).open()
        growth = g.Growth(nc, fleet, [steps[0], steps[-1]])
        serve = ProbedServe(server.url, str(server.data_dir.parent / "serve.log"), out)
        await growth.grow_to(steps[0])
        proc = serve.start()
        try:
            for i, n in enumerate(steps):
                last = await growth.grow_to(n)
                t0 = time.perf_counter()
                await g.caught_up(nc, proc, last)
                print(f"{n}: caught up in {time.perf_counter() - t0:.1f}s", flush=True)
                await probe(proc, out, f"{n // 1000}k")
                if settle_s:
                    await asyncio.sleep(settle_s)
                    await probe(proc, out, f"{n // 1000}k_settled")
                if i == 0:
                    proc = await growth.restart(serve, n)
                    await probe(proc, out, f"{n // 1000}k_restarted")
        finally:
            serve.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1000000,1500000,2000000,2500000,3000000")
    parser.add_argument("--settle", type=float, default=0.0)
    default_out = str(Path(tempfile.gettempdir()) / "serve_memory.jsonl")
    parser.add_argument("--out", default=default_out)
    args = parser.parse_args()
    sizes = [int(x) for x in args.steps.split(",")]
    asyncio.run(main(sizes, args.settle, args.out))
