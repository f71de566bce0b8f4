"""Full outages of a 3-node cluster: does the ticker decide fires on a view behind the log?

    python -m bench.cluster_outage [--outages 3] [--down 40] [--json out.json]

Real processes on this machine: a 3-node JetStream cluster, two `jetcron serve --replicas 3`
and one executor, four `@every 5s..20s` schedules of a 1 s job (overlap skip, the default).
Every node is stopped for `--down` seconds, `--outages` times, 35 s apart. The leader often
keeps its lease through it, and the shared reader takes seconds longer than the lease to read
again (JetStream elects its leaders first), which is when newcomer17b saw a fire skipped for a
run whose result was already stored. The report counts `false_skips` (bench/chaos.py's rule:
an overlap skip decided over 1 s after its blocker's result was stored). Exit 1 if any.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.chaos import Proc, false_skips, jetcron, read_log
from jetcron.domain.events import RunSkipped, RunTriggered
from jetcron.server import NatsServer, start_cluster

SCHEDULES = {"o5": "@every 5s", "o10": "@every 10s", "o15": "@every 15s", "o20": "@every 20s"}
UP_S = 35.0
"""How long the cluster runs between outages (and after the last one)."""


def add_schedules() -> None:
    """Create the schedules, retrying until a `serve` answers (it creates the log first)."""
    deadline = time.monotonic() + 120
    for name, spec in SCHEDULES.items():
        while True:
            argv = jetcron("schedule", "add", name, spec, "--", "sleep", "1")
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"schedule add {name}: {done.stderr.strip()}")
            time.sleep(1)


def outages(nodes: list[NatsServer], count: int, down: float) -> None:
    """Stop every node for `down` seconds, `count` times."""
    for _ in range(count):
        time.sleep(UP_S)
        for node in nodes:
            node.stop()
        time.sleep(down)
        for node in nodes:
            node.start(timeout=30)
    time.sleep(UP_S)


def run(root: Path, count: int, down: float) -> dict[str, Any]:
    """The whole bench; the report."""
    nodes = start_cluster(root / "cluster", 3)
    os.environ["NATS_URL"] = ",".join(n.url for n in nodes)  # why: every process we start
    procs = [
        Proc(f"serve-{i}", jetcron("serve", "--replicas", "3", "--instance", f"s{i}"), root / f"s{i}.log")
        for i in (1, 2)
    ] + [Proc("executor", jetcron("executor", "--name", "e", "--journal-dir", str(root / "j")),
              root / "executor.log")]  # fmt: skip
    try:
        for proc in procs:
            proc.start()
        add_schedules()
        outages(nodes, count, down)
        log = asyncio.run(read_log(nodes[0].url))
    finally:
        for proc in procs:
            proc.stop()
        for node in nodes:
            node.stop()
    events = [s.envelope.event for s in log]
    return {
        "outages": count,
        "down_s": down,
        "events": len(log),
        "triggers": sum(isinstance(e, RunTriggered) for e in events),
        "overlap_skips": sum(isinstance(e, RunSkipped) and e.reason.startswith("overlap") for e in events),
        "false_skips": false_skips(log),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=int, default=3)
    parser.add_argument("--down", type=float, default=40.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="jetcron-cluster-outage-"))
    report = run(root, args.outages, args.down) | {"work_dir": str(root)}
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text)
    print(text)
    if not report["false_skips"]:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if report["false_skips"] else 0)


if __name__ == "__main__":
    main()
