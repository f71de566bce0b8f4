"""End to end: a deleted schedule leaves no run waiting forever (`jetcron up`, CLI only)."""

from __future__ import annotations

import json
import time
from typing import Any

from test_e2e import Up


def _runs(up: Up, *args: str) -> list[dict[str, Any]]:
    done = up.cli("runs", "list", "--schedule", "orphan", *args, "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_a_trigger_nobody_took_is_cancelled_when_its_schedule_is_deleted(up: Up) -> None:
    added = up.cli("schedule", "add", "orphan", "@every 2s", "-t", "nobody", "--", "echo", "o")
    assert added.returncode == 0, added.stderr
    deadline = time.monotonic() + 20
    while not _runs(up, "--status", "triggered"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert up.cli("schedule", "delete", "orphan").returncode == 0

    def runs() -> list[dict[str, Any]]:
        # why: a slow start lets a second fire come due while the first waits: it is skipped
        # for overlap (a row with no run), not a run this test is about
        return [r for r in _runs(up) if r["run_id"]]

    while {r["status"] for r in runs()} != {"cancelled"}:
        assert time.monotonic() < deadline + 30, _runs(up)
        time.sleep(0.3)
    rows = runs()
    assert {r["reason"] for r in rows} == {"schedule deleted"}
    assert _runs(up, "--status", "triggered") == []
    health = json.loads(up.cli("health", "--json").stdout)
    assert not [p for p in health["problems"] if p["subject"] == "nobody"], health
    # why: its schedule is gone, yet the run is found and the answer says it is over
    cancel = up.cli("runs", "cancel", rows[0]["run_id"])
    assert cancel.returncode == 2
    assert f"run {rows[0]['run_id']} already ended (run.cancelled)" in cancel.stderr

    verify = up.cli("replay", "--verify", "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["identical"] is True
