"""`stats` per executor has no `(not started)` row of 0 runs for skipped fires (newcomer19b F13);
a run that ended before any executor started it keeps that row. Real log and service."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import nats
from served import ok

import raw_runs
from jetcron import ids, subjects
from jetcron.domain.events import RunCancelled, RunSkipped, RunStarted, RunSucceeded
from jetcron.log.stream import EventLog


async def _history(url: str, *, cancelled: bool) -> None:
    """One run of k1 on vm that succeeded and a skipped fire (and a run cancelled unstarted)."""
    nc = await nats.connect(url)
    log = await EventLog(nc).open(create=True)
    run = await raw_runs.trigger(log, "k1", "vm")
    ended = RunSucceeded(**run, executor="vm", duration_s=1.0)
    await raw_runs.report(log, "vm", RunStarted(**run, executor="vm"), ended)
    fire = ids.fire_id(run["schedule_id"], 1, datetime(2026, 1, 1, tzinfo=UTC))
    skipped = RunSkipped(
        schedule_id=run["schedule_id"], name="k1", fire_id=fire,
        fire_time=datetime(2026, 1, 1, tzinfo=UTC), reason="overlap",
    )  # fmt: skip
    await log.append(subjects.fire("k1"), [raw_runs.envelope(skipped, "jetcron")])
    if cancelled:
        other = await raw_runs.trigger(log, "k1", "vm")
        gone = RunCancelled(**other, reason="operator")
        await log.append(
            subjects.run_by_scheduler("k1", other["run_id"]), [raw_runs.envelope(gone)]
        )
    await nc.close()


def _executor_rows(server: str, want: int) -> list[list[Any]]:
    """[key, runs] of the per-executor rows, once `want` runs are counted overall."""
    for _ in range(50):
        rows = json.loads(ok(server, "stats", "--json"))
        if [r["runs"] for r in rows if r["group"] == "overall"] == [want]:
            break
        time.sleep(0.1)
    return [[r["key"], r["runs"]] for r in rows if r["group"] == "executor"]


def test_skipped_fires_make_no_empty_not_started_row(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "k1", "@every 1h", "--", "true")
    asyncio.run(_history(scheduler, cancelled=False))
    assert _executor_rows(scheduler, 1) == [["vm", 1]]
    asyncio.run(_history(scheduler, cancelled=True))
    assert sorted(_executor_rows(scheduler, 3)) == [
        ["-", 1],
        ["vm", 2],
    ]  # a run nobody started stays
    # nc21b #11: each table's first column is named (it was an empty header cell)
    table = ok(scheduler, "stats")
    heads = [line.split()[0] for line in table.splitlines() if "failed" in line and "ok %" in line]
    assert heads == ["schedule", "executor", "runs"], table
