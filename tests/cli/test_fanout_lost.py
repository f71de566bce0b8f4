"""End to end: a fan-out member whose executor is killed with -9 mid-job is declared lost by the
scheduler, and the fire's fate, `runs show`, `stats` and `health` settle (as for a plain run).

A live scheduler service (what `jetcron up` runs, with a 1 s lost grace instead of 60 s) and a
real executor process `pi2` tagged `lights`, driven through the CLI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from killed import Executor, as_json, executor, online, wait_for
from served import cli, scheduler_in_thread

from jetcron import service
from jetcron.domain.events import RunLost
from test_e2e import read_log

TIMEOUT_S = 10
"""The job's timeout: room to kill its executor mid-job on a busy machine (the heartbeat TTL of
15 s that the test waits out anyway is longer)."""


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    yield from scheduler_in_thread(nats_url, service.ServiceConfig(lost_grace_s=1.0))


@pytest.fixture
def pi2(scheduler: str, tmp_path: Path) -> Iterator[Executor]:
    """The executor `pi2` (tag `lights`)."""
    yield from executor(scheduler, tmp_path, "pi2", "lights")


def _member(url: str, status: str) -> dict[str, Any] | None:
    rows = as_json(url, "runs", "list", "--schedule", "fan")
    return next((r for r in rows if r["run_id"].endswith("-pi2") and r["status"] == status), None)


def test_a_member_whose_executor_dies_is_declared_lost(scheduler: str, pi2: Executor) -> None:
    url = scheduler
    wait_for("pi2 online", lambda: "pi2" in online(url))
    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    add = ("schedule", "add", "fan", f"@at {at.isoformat()}", "-t", "all:lights")
    assert cli(url, *add, "--timeout", f"{TIMEOUT_S}s", "--", "sleep", "60").exit_code == 0
    member = wait_for("the member to start", lambda: _member(url, "running"))
    pi2.kill_9()  # mid-job: no result will ever come from it

    run_id = member["run_id"]
    lost = wait_for("the member to be lost", lambda: _member(url, "lost"), TIMEOUT_S + 20)
    assert lost["run_id"] == run_id
    shown = as_json(url, "runs", "show", run_id)
    assert (shown["status"], shown["executor"]) == ("lost", "pi2"), shown
    trigger = run_id.removesuffix("-pi2")
    assert as_json(url, "runs", "show", trigger)["members"] == {run_id: "lost"}
    [fire] = [f for f in as_json(url, "fires", "fan") if f.get("run_id") == trigger]
    assert (fire["status"], fire["executor"]) == ("lost", "pi2"), fire
    stats = next(r for r in as_json(url, "stats", "--schedule", "fan") if r["group"] == "schedule")
    assert stats["by_status"] == {"lost": 1}, stats

    # once pi2's heartbeat is gone, health does not say it holds runs: the member is settled
    # (it says only that its heartbeat expired: it died, listed until it comes back or `--ack`)
    # why: its heartbeat expires 15 s after its last beat; on a loaded machine the scan that
    # sees it may come well after
    wait_for("pi2 offline", lambda: "pi2" not in online(url), 60)
    assert as_json(url, "status")["runs_in_flight"] == 0
    problems = json.loads(cli(url, "health", "--json").stdout)["problems"]
    held = [p for p in problems if p["subject"] == "pi2" and "expired" not in p["detail"]]
    assert not held, problems
    stored = asyncio.run(read_log(url))
    assert [s.event.run_id for s in stored if isinstance(s.event, RunLost)] == [run_id]  # once

    verify = cli(url, "replay", "--verify", "--json")
    assert verify.exit_code == 0, verify.output
    assert json.loads(verify.stdout)["identical"] is True
