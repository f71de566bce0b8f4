"""End to end: a fan-out schedule (`-t all:<tag>`) with a tagged executor, seen through the CLI.

The trigger of a fan-out fire is no run: every view counts and shows its members' runs
(`<run id>-<executor>`), and the fire's fate is theirs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port, require_nats_server
from test_e2e import ENV, Up


def start_pi2(up: Up, tmp_path: Path) -> subprocess.Popen[bytes]:
    """A second executor `pi2` tagged `lights`."""
    with (tmp_path / "pi2.out").open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable, "-m", "jetcron", "executor", "--name", "pi2", "--target", "pi2",
                "--tags", "lights", "--journal-dir", str(tmp_path / "pi2"), "--server", up.url,
            ],
            stdout=out, stderr=subprocess.STDOUT, env=ENV,
        )  # fmt: skip


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Up]:
    """`jetcron up` and a second executor `pi2` tagged `lights`."""
    require_nats_server()
    up = Up(tmp_path / "jetcron", free_port()).start()
    pi2 = start_pi2(up, tmp_path)
    try:
        yield up
    finally:
        pi2.terminate()
        pi2.wait(15)
        up.stop()


def _json(up: Up, *args: str) -> Any:
    done = up.cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _member_ran(up: Up) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        rows = _json(up, "runs", "list", "--schedule", "fan")
        done = [r for r in rows if r["run_id"].endswith("-pi2") and r["status"] == "succeeded"]
        if done:
            return done[0]
        assert time.monotonic() < deadline, rows
        time.sleep(0.3)


def test_a_fan_out_fire_is_its_members_runs(fleet: Up) -> None:
    up = fleet
    added = up.cli("schedule", "add", "fan", "@every 2s", "-t", "all:lights", "--", "echo", "fan")
    assert added.returncode == 0, added.stderr
    member = _member_ran(up)
    trigger = member["run_id"].removesuffix("-pi2")
    up.cli("schedule", "pause", "fan")

    rows = _json(up, "runs", "list", "--schedule", "fan")
    assert {r["status"] for r in rows if "-" not in r["run_id"]} == {"fanned_out"}
    assert {r["executor"] for r in rows if "-" in r["run_id"]} == {"pi2"}
    assert member["target"] == "all:lights" and member["triggered_at"]
    table = up.cli("runs", "list", "--schedule", "fan").stdout
    assert f"{trigger[:8]}-pi2" in table
    shown = _json(up, "runs", "show", f"{trigger[:8]}-pi2")
    assert shown["run_id"] == member["run_id"]
    parent = _json(up, "runs", "show", trigger[:8])
    assert (parent["status"], parent["members"]) == ("fanned_out", {member["run_id"]: "succeeded"})
    told = up.cli("runs", "show", trigger[:8]).stdout
    assert f"members    {trigger[:8]}-pi2 succeeded" in told, told

    fires = _json(up, "fires", "fan")
    fire = next(f for f in fires if f.get("run_id") == trigger)
    assert (fire["status"], fire["executor"]) == ("succeeded", "pi2"), fire
    listed = {s["name"]: s for s in _json(up, "schedule", "list", "--all")}
    # why: the pause cancels a member run of a later fire that had not started yet
    assert listed["fan"]["last_status"] in ("succeeded", "running", "cancelled"), listed["fan"]
    stats = _json(up, "stats", "--schedule", "fan")
    assert {r["key"] for r in stats if r["group"] == "executor"} == {"pi2"}, stats
    deadline = time.monotonic() + 10
    # why: a member may still run the last fire before the pause; the trigger rows never count
    while (status := _json(up, "status"))["runs_in_flight"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
    health = up.cli("health", "--json")
    problems = json.loads(health.stdout)["problems"]
    assert not [p for p in problems if p["subject"] == "all:lights"], problems

    verify = up.cli("replay", "--verify", "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["identical"] is True


def test_cancelling_a_fan_out_stops_its_members(fleet: Up) -> None:
    up = fleet
    add = ("schedule", "add", "slow", "@every 1h", "-t", "all:lights", "--", "sleep", "30")
    assert up.cli(*add).returncode == 0
    assert up.cli("schedule", "trigger", "slow").returncode == 0
    deadline = time.monotonic() + 30
    while not [
        r for r in _json(up, "runs", "list", "--schedule", "slow") if r["status"] == "running"
    ]:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    [trigger] = [
        r["run_id"]
        for r in _json(up, "runs", "list", "--schedule", "slow")
        if "-" not in r["run_id"]
    ]

    cancel = up.cli("runs", "cancel", trigger[:8])
    assert cancel.returncode == 0, cancel.stderr
    assert f"every member of fan-out run {trigger[:8]}" in cancel.stdout
    while True:
        member = _json(up, "runs", "show", f"{trigger[:8]}-pi2")
        if member["status"] == "cancelled":
            break
        assert time.monotonic() < deadline + 15, member
        time.sleep(0.3)
    again = up.cli("runs", "cancel", f"{trigger[:8]}-pi2")
    assert again.returncode == 2
    assert f"run {trigger}-pi2 already ended (run.cancelled)" in again.stderr, again.stderr


def _offline(up: Up) -> list[str]:
    """Executors health reports offline (health exits 1 while there are problems)."""
    problems = json.loads(up.cli("health", "--json").stdout)["problems"]
    return [p["subject"] for p in problems if p["kind"] == "executor_offline"]


def test_a_member_back_from_away_runs_only_the_newest_fire_and_health_saw_it_gone(
    tmp_path: Path,
) -> None:
    require_nats_server()
    up = Up(tmp_path / "jetcron", free_port()).start()
    pi2 = start_pi2(up, tmp_path)
    try:
        add = ("schedule", "add", "fan", "@every 4s", "-t", "all:lights", "--", "echo", "fan")
        assert up.cli(*add).returncode == 0
        _member_ran(up)
        pi2.kill()  # kill -9: no goodbye
        pi2.wait(5)
        gone_at = time.monotonic()
        deadline = gone_at + 40
        while "pi2" not in _offline(up):
            assert time.monotonic() < deadline, "health never said pi2 is offline"
            time.sleep(1)
        time.sleep(max(0.0, 30 - (time.monotonic() - gone_at)))
        pi2 = start_pi2(up, tmp_path)
        deadline = time.monotonic() + 30
        while True:
            rows = [r for r in _json(up, "runs", "list", "--schedule", "fan", "--limit", "200")
                    if r["run_id"].endswith("-pi2")]  # fmt: skip
            behind = [r for r in rows if r["status"] == "cancelled"]
            if len(behind) >= 5 and "pi2" not in _offline(up):
                break
            assert time.monotonic() < deadline, rows
            time.sleep(1)
        assert {r["reason"].split(":")[0] for r in behind} == {"coalesced"}, behind
        newest = max(r["fire_time"] for r in behind)
        after = sorted((r for r in rows if r["fire_time"] > newest), key=lambda r: r["fire_time"])
        assert after and after[0]["status"] in ("succeeded", "running"), rows
        verify = up.cli("replay", "--verify", "--json")
        assert json.loads(verify.stdout)["identical"] is True, verify.stdout + verify.stderr
    finally:
        pi2.terminate()
        pi2.wait(15)
        up.stop()
