"""Views memory: the same views folded from a generated history and restored from their
snapshot, each in a fresh process, by RSS. A restart must not make `serve` bigger than the fold
it replaces (flat RSS across restarts); the fold is the same-run baseline.

No NATS: the events are the growth benchmark's history, decoded as the reader does, folded in
batches of 1000 with `--keep-runs 100`; the restore reads the snapshot bytes from a file.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.common import load_average, rnd

KEEP_RUNS = 100
SIZES = {True: (500, 300_000), False: (2000, 1_000_000)}
"""(schedules, events): the windows are full after ~schedules × keep × 3.2 events."""
GROWTH = 3
"""The second history is this many times longer (state must not grow with it)."""


def _rss_mib() -> float:
    """RSS after a full collection and the heap's free pages handed back, as `serve` does after
    a restore and once a fold is at the log's end (memory.give_back, memory.AfterBursts)."""
    from jetcron.memory import give_back

    give_back()
    return psutil.Process().memory_info().rss / 2**20


def fold(schedules: int, events: int, path: str) -> dict[str, Any]:
    """Fold the history, then store the views' snapshot at `path`."""
    from bench.history import Fleet, now
    from jetcron.domain.envelope import StoredEvent, decode
    from jetcron.projections.snapshot import snapshot
    from jetcron.projections.state import apply_batch, new_views

    base = _rss_mib()
    views, batch, seq = new_views(KEEP_RUNS), [], 0
    started = time.perf_counter()
    for subject, data in Fleet(schedules).events(events, now()):
        seq += 1
        batch.append(StoredEvent(seq, subject, decode(data)))  # type: ignore[arg-type]
        if len(batch) == 1000:
            apply_batch(views, batch)
            batch = []
    apply_batch(views, batch)
    seconds = time.perf_counter() - started
    batch = []
    rolled = _roll_up(views, seq)
    rss = _rss_mib()
    data = snapshot(views)
    Path(path).write_bytes(data)
    return {
        "base": base,
        "rss": rss,
        "seconds": seconds,
        "events": seq,
        "rollups": rolled,
        "bytes": len(data),
    }


def _roll_up(views: Any, seq: int) -> int:
    """Fold the rollups a serve's leader appends an hour after each UTC day ends.

    why: the history lies in the past, so a live serve would have rolled up all its days but
    today's; without them every day of history stays an open day, which no serve holds.
    """
    from bench.history import now
    from jetcron import ids
    from jetcron.domain.envelope import Envelope, StoredEvent
    from jetcron.domain.events import StatsRolledUp
    from jetcron.projections import rollups
    from jetcron.projections.state import apply_batch

    at, batch = now(), []
    for day in rollups.due(views.runs, at):
        seq += 1
        event = StatsRolledUp(
            schedule_id=day.schedule_id, name=day.name, day=day.day, digest=day.digest
        )
        envelope = Envelope(id=ids.new_id(), at=at, actor="system:rollup", event=event)
        batch.append(StoredEvent(seq, "jetcron.stats", envelope))
    apply_batch(views, batch)
    return len(batch)


def restore(path: str) -> dict[str, Any]:
    """Restore the views from the snapshot at `path`."""
    from jetcron.projections.snapshot import restore as restore_views

    base = _rss_mib()
    data = Path(path).read_bytes()
    started = time.perf_counter()
    views = restore_views(data)
    seconds = time.perf_counter() - started
    del data
    if views is None:
        raise RuntimeError("the snapshot did not restore")
    return {"base": base, "rss": _rss_mib(), "seconds": seconds}


def _env() -> dict[str, str]:
    """This checkout's jetcron and bench on the child's path."""
    import jetcron

    src = str(Path(jetcron.__file__).resolve().parents[1])
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, root, os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path)


async def _child(*args: str) -> dict[str, Any]:
    """Run this module's `args[0]` in a new process; its JSON answer."""
    env = _env()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.views_memory", *args,
        stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"views_memory {args[0]} exited with {proc.returncode}")
    result: dict[str, Any] = json.loads(out)
    return result


async def run(quick: bool) -> dict[str, Any]:
    """Folded and restored views of one history, by RSS."""
    schedules, events = SIZES[quick]
    with tempfile.TemporaryDirectory(prefix="jetcron-bench-views-") as tmp:
        path, path3 = str(Path(tmp) / "views.snapshot"), str(Path(tmp) / "views3.snapshot")
        folded = await _child("fold", str(schedules), str(events), path)
        restored = await _child("restore", path)
        folded3 = await _child("fold", str(schedules), str(events * GROWTH), path3)
        restored3 = await _child("restore", path3)
    views_folded = folded["rss"] - folded["base"]
    views_restored = restored["rss"] - restored["base"]
    views_restored3 = restored3["rss"] - restored3["base"]
    return {
        "views_rss_mib_folded": rnd(views_folded, 1),
        "views_rss_mib_restored": rnd(views_restored, 1),
        "views_restored_vs_folded": rnd(views_restored / views_folded, 3),
        "views_restore_seconds": rnd(restored["seconds"], 2),
        "views_snapshot_mib": rnd(folded["bytes"] / 2**20, 1),
        "views_fold_events_per_s": rnd(folded["events"] / folded["seconds"], 0),
        "views_rss_mib_restored_3x": rnd(views_restored3, 1),
        "views_snapshot_mib_3x": rnd(folded3["bytes"] / 2**20, 1),
        "views_state_growth_ratio": rnd(views_restored3 / views_restored, 3),
        "views_restore_seconds_3x": rnd(restored3["seconds"], 2),
        "views_memory_load_average": load_average(),
        "notes": [
            f"views_memory: {folded['events']} generated events ({schedules} hourly schedules, "
            f"keep {KEEP_RUNS} runs each: {schedules * KEEP_RUNS} runs held) folded in one "
            "process, with the daily rollups a live leader appends, their snapshot restored in "
            "another; *_rss_mib_* = the process's RSS minus its RSS before (imports done), "
            "after a full collection and the heap's free pages given back (as serve does after a restore "
            "and a catch-up); views_restored_vs_folded: restored / folded (≤ 1: a "
            f"restart does not grow serve); *_3x: the same for {folded3['events']} events, "
            "views_state_growth_ratio = restored 3x / restored 1x (flat state: 1.0)"
        ],
    }


def main(argv: list[str]) -> None:
    """`fold SCHEDULES EVENTS PATH` or `restore PATH`: one measurement, as JSON on stdout."""
    if argv[0] == "fold":
        result = fold(int(argv[1]), int(argv[2]), argv[3])
    else:
        result = restore(argv[1])
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
