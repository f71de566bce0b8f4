"""Schedule churn: the views' size after many uniquely named one-shot schedules were created,
run once and deleted (1,000 a day, with the daily rollups a leader appends).

No NATS: the events are built in process and folded in batches of 1000 (`--keep-runs` 500).
`python -m bench --only deleted_churn` gives the growth ratio (10x the churn: 1.2-1.4, not 10:
the run claims fill their own bound of 4,096 meanwhile). Alone it prints, per count of
schedules churned, the snapshot's bytes, the views' memory (tracemalloc: what the fold
allocated and still holds) and the fold's CPU seconds. Runs on older code too (the views then
hold every deleted schedule), so a before/after is one command per checkout (run from it: the
bench package puts its own checkout's src first):

    cd <checkout> && PYTHONPATH=src:. python -m bench.deleted_churn 2000 20000
"""

from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

PER_DAY = 1000
"""Schedules created, run and deleted per day."""
START = datetime(2026, 1, 5, tzinfo=UTC)


def _churn(n: int) -> Iterator[Any]:
    """(time, event, actor) of `n` one-shot schedules, each created, run once and deleted."""
    from jetcron import ids
    from jetcron.domain.definition import Job, ScheduleDefinition
    from jetcron.domain.events import (
        RunStarted,
        RunSucceeded,
        RunTriggered,
        ScheduleCreated,
        ScheduleDeleted,
    )

    step = timedelta(days=1) / PER_DAY
    for i in range(n):
        at = START + step * i
        name, fire = f"oneshot-{i:07d}", at + step / 4
        sid = ids.derived_id("schedule", name, "1")
        spec = f"@at {fire.isoformat().replace('+00:00', 'Z')}"
        d = ScheduleDefinition(spec=spec, job=Job(command=["echo", name]), target="host-a")
        yield at, ScheduleCreated(schedule_id=sid, name=name, version=1, definition=d), "alice"
        fire_id = ids.fire_id(sid, 1, fire)
        base = {"schedule_id": sid, "name": name, "fire_id": fire_id, "fire_time": fire}
        run = {**base, "run_id": ids.run_id_for(fire_id)}
        trigger = RunTriggered(**run, version=1, target="host-a", job=d.job)
        yield fire, trigger, "system:ticker"
        yield fire + step / 8, RunStarted(**run, executor="host-a"), "host-a"
        yield fire + step / 4, RunSucceeded(**run, executor="host-a", duration_s=1.5), "host-a"
        yield at + step * 0.9, ScheduleDeleted(schedule_id=sid, name=name, version=2), "alice"


def fold(n: int, keep: int = 500) -> tuple[Any, int]:
    """The views after `n` churned schedules and the rollups due meanwhile; events folded."""
    from jetcron.domain.events import StatsRolledUp

    try:
        from jetcron.domain.envelope import Envelope, StoredEvent
    except ImportError:  # why: code before the envelope module (a before/after measure)
        from jetcron.domain.events import Envelope, StoredEvent  # type: ignore[attr-defined,no-redef]
    from jetcron.projections import rollups
    from jetcron.projections.state import apply_batch, new_views

    views, batch, seq, day = new_views(keep), [], 0, START.date()

    def add(at: datetime, event: Any, actor: str) -> None:
        nonlocal seq
        seq += 1
        envelope = Envelope(id=f"e{seq}", at=at, actor=actor, event=event)
        batch.append(StoredEvent(seq, "jetcron.bench", envelope))

    for at, event, actor in _churn(n):
        if at.date() != day and at.hour >= 1:  # why: the leader rolls a day up an hour after
            apply_batch(views, batch)
            batch.clear()
            for o in rollups.due(views.runs, at):
                rolled = StatsRolledUp(schedule_id=o.schedule_id, name=o.name, day=o.day,
                                       digest=o.digest)  # fmt: skip
                add(at, rolled, "system:rollup")
            day = at.date()
        add(at, event, actor)
        if len(batch) >= 1000:
            apply_batch(views, batch)
            batch.clear()
    apply_batch(views, batch)
    return views, seq


def measure(n: int) -> dict[str, Any]:
    """One fold of `n` churned schedules: snapshot bytes, traced memory, CPU seconds."""
    from jetcron.projections.snapshot import snapshot

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    cpu = time.process_time()
    views, events = fold(n)
    cpu = time.process_time() - cpu
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {
        "schedules_churned": n,
        "events": events,
        "snapshot_bytes": len(snapshot(views)),
        "views_traced_mib": round(held / 2**20, 2),
        "bytes_per_churned": round(held / n),
        "fold_cpu_s_traced": round(cpu, 2),
        "deleted_held": len(views.schedules.deleted),
        "keep_deleted": getattr(views, "keep_deleted", None),
    }


async def run(quick: bool) -> dict[str, Any]:
    """The views after a short and a ten times longer churn: flat, not linear."""
    small, large = (1000, 10_000) if quick else (2000, 20_000)
    a, b = measure(small), measure(large)
    return {
        "churn_views_mib_small": a["views_traced_mib"],
        "churn_views_mib_large": b["views_traced_mib"],
        "churn_snapshot_bytes_small": a["snapshot_bytes"],
        "churn_snapshot_bytes_large": b["snapshot_bytes"],
        "churn_growth_ratio": round(b["views_traced_mib"] / a["views_traced_mib"], 2),
        "churn_schedules": [small, large],
    }


if __name__ == "__main__":
    counts = [int(a) for a in sys.argv[1:]] or [2000, 20000]
    print(json.dumps([measure(n) for n in counts], indent=1))  # noqa: T201
