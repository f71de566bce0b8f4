"""`runs show` of a retried run labels an earlier attempt's error and output as that attempt's
(newcomer19b F12), and a run whose executor is offline reads `running?` in `runs list`, `runs
show` and `schedule list` (F3). The log and the scheduler service are real; the CLI in-process."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import nats
from served import ok

import raw_runs
from jetcron.cli import run_facts, runs, schedule_views
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.events import RunFailed, RunOutput, RunStarted
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler


async def _retried_run(url: str) -> str:
    """k2's run whose attempt 1 failed (its supervisor died) and attempt 2 runs now on exA."""
    nc = await nats.connect(url)
    log = await EventLog(nc).open(create=True)
    d = ScheduleDefinition(spec="@every 1h", job=Job(command=["true"]), target="exA")
    at = datetime.now(UTC)
    await CommandHandler(log).handle(
        CreateSchedule(name="k2", command_id="c1", at=at, actor="al", definition=d)
    )
    run = await raw_runs.trigger(log, "k2", "exA")
    failed = RunFailed(
        **run, executor="exA", error="the run's supervisor died",
        output=RunOutput(stdout="working for 40 s\n"), next_retry_at=at + timedelta(seconds=1),
    )  # fmt: skip
    await raw_runs.report(
        log,
        "exA",
        RunStarted(**run, executor="exA"),
        failed,
        RunStarted(**run, executor="exA", attempt=2),
    )
    await nc.close()
    return str(run["run_id"])


def test_an_earlier_attempts_error_and_output_are_labelled_as_its_own(scheduler: str) -> None:
    run_id = asyncio.run(_retried_run(scheduler))
    for _ in range(50):
        shown = ok(scheduler, "runs", "show", run_id)
        if "(attempt 2)" in shown:
            break
        time.sleep(0.1)
    lines = shown.splitlines()
    assert "status     running (attempt 2)" in lines
    assert "error      attempt 1: the run's supervisor died" in lines
    assert "── stdout of attempt 1 ──" in lines


def test_a_run_held_by_an_offline_executor_reads_running_with_a_question_mark() -> None:
    """The rendering of the answers' `offline` line (the rule and the answers:
    tests/projections/test_held_runs.py, against a real server)."""
    said = "executor ex1 offline since 2026-12-03T06:51:45Z; unless it is back within …"
    row = {
        "run_id": "ddad2755aa", "schedule": "k1", "fire_time": "2026-12-03T06:51:29Z",
        "status": "running", "attempt": 1, "offline": said,
    }  # fmt: skip
    cells = runs._row_cells(row)
    assert cells[3:5] == ["running?", "-"]
    assert cells[5].startswith("executor ex1 offline since 2026-12-03T06:51:45Z")
    assert dict(run_facts.facts(row))["status"] == f"running? ({said})"
    assert dict(run_facts.facts(dict(row, attempt=2)))["status"] == f"running? (attempt 2; {said})"
    listed = {"last_status": "running", "last_run_at": "2026-12-03T06:51:29Z", "last_offline": said}
    assert schedule_views._last(listed).startswith("running? ")
