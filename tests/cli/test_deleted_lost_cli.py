"""End to end: runs of a deleted schedule whose executor died mid-job are declared lost, a plain
run and a fan-out member alike, once each; `runs`, `status` and `health` settle.

A live scheduler service (what `jetcron up` runs, with a 1 s lost grace instead of 60 s) and a
real executor process `pi2` tagged `lights`, driven through the CLI. The executor is killed with
-9 before the schedules are deleted: a live executor cancels its runs of a deleted schedule
itself (`run.cancelled`), so a dead one is what leaves them running.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from killed import Executor, as_json, executor, online, wait_for
from served import cli, scheduler_in_thread

from jetcron import service
from jetcron.domain.events import RunCancelled, RunLost
from test_e2e import read_log

TIMEOUT_S = 10
"""The jobs' timeout: room to kill their executor mid-job on a busy machine."""
SCHEDULES = {"plain": "pi2", "fan": "all:lights"}
"""A plain run on pi2, and pi2's member of a fan-out."""


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    yield from scheduler_in_thread(nats_url, service.ServiceConfig(lost_grace_s=1.0))


@pytest.fixture
def pi2(scheduler: str, tmp_path: Path) -> Iterator[Executor]:
    """The executor `pi2` (tag `lights`)."""
    yield from executor(scheduler, tmp_path, "pi2", "lights")


def _run(url: str, schedule: str, status: str) -> dict[str, Any] | None:
    rows = as_json(url, "runs", "list", "--schedule", schedule)
    return next((r for r in rows if r["executor"] == "pi2" and r["status"] == status), None)


def test_runs_of_a_deleted_schedule_whose_executor_died_are_lost(
    scheduler: str, pi2: Executor
) -> None:
    url = scheduler
    wait_for("pi2 online", lambda: "pi2" in online(url))
    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    for name, target in SCHEDULES.items():
        add = ("schedule", "add", name, f"@at {at.isoformat()}", "-t", target)
        assert cli(url, *add, "--timeout", f"{TIMEOUT_S}s", "--", "sleep", "60").exit_code == 0
    running = {s: wait_for(f"{s} to start", partial(_run, url, s, "running")) for s in SCHEDULES}
    pi2.kill_9()  # mid-job: no result will ever come from it
    for name in running:
        assert cli(url, "schedule", "delete", name).exit_code == 0

    for name, run in running.items():
        lost = wait_for(f"{name} to be lost", partial(_run, url, name, "lost"), TIMEOUT_S + 20)
        assert lost["run_id"] == run["run_id"]
        shown = as_json(url, "runs", "show", run["run_id"])
        assert (shown["status"], shown["executor"]) == ("lost", "pi2"), shown
    stored = asyncio.run(read_log(url))
    lost_ids = sorted(s.event.run_id for s in stored if isinstance(s.event, RunLost))
    assert lost_ids == sorted(r["run_id"] for r in running.values())  # once each
    assert not [s for s in stored if isinstance(s.event, RunCancelled)]  # taken: not cancelled

    # once pi2's heartbeat is gone, nothing says it holds runs: both runs are settled (health
    # says only that its heartbeat expired: it died, listed until it comes back or `--ack`)
    # why: its heartbeat expires 15 s after its last beat; a loaded machine may see it later
    wait_for("pi2 offline", lambda: "pi2" not in online(url), 60)
    assert as_json(url, "status")["runs_in_flight"] == 0
    problems = json.loads(cli(url, "health", "--json").stdout)["problems"]
    held = [p for p in problems if p["subject"] == "pi2" and "expired" not in p["detail"]]
    assert not held, problems

    verify = cli(url, "replay", "--verify", "--json")
    assert verify.exit_code == 0, verify.output
    assert json.loads(verify.stdout)["identical"] is True
