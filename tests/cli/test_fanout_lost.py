"""End to end: a fan-out member whose executor is killed with -9 mid-job is declared lost by the
scheduler, and the fire's fate, `runs show`, `stats` and `health` settle (as for a plain run).

A live scheduler service (what `jetcron up` runs, with a 1 s lost grace instead of 60 s) and a
real executor process `pi2` tagged `lights`, driven through the CLI.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from served import cli, scheduler_in_thread

from jetcron import service
from jetcron.domain.events import RunLost
from test_e2e import ENV, read_log

TIMEOUT_S = 10
"""The job's timeout: room to kill its executor mid-job on a busy machine (the heartbeat TTL of
15 s that the test waits out anyway is longer)."""


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    yield from scheduler_in_thread(nats_url, service.ServiceConfig(lost_grace_s=1.0))


@dataclass
class Executor:
    """An executor process and what it left behind when killed (ended at teardown)."""

    proc: subprocess.Popen[bytes]
    left: list[psutil.Process] = field(default_factory=list)

    def kill_9(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would; its job's supervisor lives on."""
        self.left += psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def pi2(scheduler: str, tmp_path: Path) -> Iterator[Executor]:
    """The executor `pi2` (tag `lights`)."""
    with (tmp_path / "pi2.out").open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "jetcron", "executor", "--name", "pi2", "--target", "pi2",
                "--tags", "lights", "--journal-dir", str(tmp_path / "pi2"), "--server", scheduler,
            ],
            stdout=out, stderr=subprocess.STDOUT, env=ENV,
        )  # fmt: skip
    executor = Executor(proc)
    yield executor
    if proc.poll() is None:
        proc.terminate()
        proc.wait(15)
    for child in executor.left:  # why: a supervisor outlives a -9; it ends by itself, else here
        if child.is_running():
            child.kill()


def _json(url: str, *args: str) -> Any:
    result = cli(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _wait(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return found


def _member(url: str, status: str) -> dict[str, Any] | None:
    rows = _json(url, "runs", "list", "--schedule", "fan")
    return next((r for r in rows if r["run_id"].endswith("-pi2") and r["status"] == status), None)


def test_a_member_whose_executor_dies_is_declared_lost(scheduler: str, pi2: Executor) -> None:
    url = scheduler
    _wait("pi2 online", lambda: "pi2" in {e["name"] for e in _json(url, "status")["executors"]})
    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    add = ("schedule", "add", "fan", f"@at {at.isoformat()}", "-t", "all:lights")
    assert cli(url, *add, "--timeout", f"{TIMEOUT_S}s", "--", "sleep", "60").exit_code == 0
    member = _wait("the member to start", lambda: _member(url, "running"))
    pi2.kill_9()  # mid-job: no result will ever come from it

    run_id = member["run_id"]
    lost = _wait("the member to be lost", lambda: _member(url, "lost"), TIMEOUT_S + 20)
    assert lost["run_id"] == run_id
    shown = _json(url, "runs", "show", run_id)
    assert (shown["status"], shown["executor"]) == ("lost", "pi2"), shown
    trigger = run_id.removesuffix("-pi2")
    assert _json(url, "runs", "show", trigger)["members"] == {run_id: "lost"}
    [fire] = [f for f in _json(url, "fires", "fan") if f.get("run_id") == trigger]
    assert (fire["status"], fire["executor"]) == ("lost", "pi2"), fire
    stats = next(r for r in _json(url, "stats", "--schedule", "fan") if r["group"] == "schedule")
    assert stats["by_status"] == {"lost": 1}, stats

    # once pi2's heartbeat is gone, health does not say it holds runs: the member is settled
    # why: its heartbeat expires 15 s after its last beat; on a loaded machine the scan that
    # sees it may come well after
    _wait(
        "pi2 offline",
        lambda: "pi2" not in {e["name"] for e in _json(url, "status")["executors"]},
        60,
    )
    assert _json(url, "status")["runs_in_flight"] == 0
    problems = json.loads(cli(url, "health", "--json").stdout)["problems"]
    assert not [p for p in problems if p["subject"] == "pi2"], problems
    stored = asyncio.run(read_log(url))
    assert [s.event.run_id for s in stored if isinstance(s.event, RunLost)] == [run_id]  # once

    verify = cli(url, "replay", "--verify", "--json")
    assert verify.exit_code == 0, verify.output
    assert json.loads(verify.stdout)["identical"] is True
