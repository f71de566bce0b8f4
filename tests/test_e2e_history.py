"""End to end: history survives a restart, replays identically, and answers audits."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from conftest import free_port, require_nats_server
from test_e2e import Up


def runs_by_status(up: Up, name: str) -> dict[str, int]:
    rows = json.loads(
        up.cli("runs", "list", "--schedule", name, "--limit", "1000", "--json").stdout
    )
    out: dict[str, int] = {}
    for r in rows:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def test_history_survives_restart_replays_and_audits(tmp_path: Path) -> None:
    require_nats_server()
    up = Up(tmp_path / "jetcron", free_port()).start()
    try:
        assert up.cli("schedule", "add", "ok", "@every 1s", "--", "true").returncode == 0
        assert (
            up.cli(
                "schedule", "add", "fails", "@every 2s", "--breaker", "0", "--", "false"
            ).returncode
            == 0
        )
        assert (
            up.cli(
                "schedule",
                "add",
                "slow",
                "@every 3s",
                "--timeout",
                "1s",
                "--overlap",
                "allow",
                "--",
                "sleep",
                "5",
            ).returncode
            == 0
        )
        for _ in range(3):  # why: manual triggers are an audit set; its order must not matter
            assert up.cli("schedule", "trigger", "slow").returncode == 0
        time.sleep(4)
        before_pause = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        time.sleep(0.5)
        assert (
            up.cli(
                "schedule", "pause", "ok", "--reason", "window cleaning", "--actor", "alice"
            ).returncode
            == 0
        )
        time.sleep(2)
        assert up.cli("schedule", "resume", "ok", "--actor", "bob").returncode == 0
        time.sleep(3)
        stats_before = {
            r["key"]: r
            for r in json.loads(up.cli("stats", "--json").stdout)
            if r["group"] == "schedule"
        }
        up.stop()
        up.start()
        stats_after = {
            r["key"]: r
            for r in json.loads(up.cli("stats", "--json").stdout)
            if r["group"] == "schedule"
        }
        for name in ("ok", "fails", "slow"):
            # finished runs never disappear; in-flight ones may have finished meanwhile
            assert stats_after[name]["finished"] >= stats_before[name]["finished"] > 0
        statuses = runs_by_status(up, "fails") | {}
        assert statuses.get("failed", 0) >= 2
        assert runs_by_status(up, "slow").get("timed_out", 0) >= 1

        def ok_runs() -> int:
            rows = json.loads(up.cli("stats", "--json").stdout)
            return int(
                next(r for r in rows if r["group"] == "schedule" and r["key"] == "ok")["runs"]
            )

        # it continues (why a deadline, not a fixed 2 s: the restarted ticker first takes the
        # lease and reads the log, slower with 4 test workers on 2 cores)
        deadline = time.monotonic() + 20
        while ok_runs() <= stats_after["ok"]["runs"]:
            assert time.monotonic() < deadline, "the restarted scheduler did not run `ok` again"
            time.sleep(0.5)

        verify = up.cli("replay", "--verify", "--json")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert json.loads(verify.stdout)["identical"] is True
        assert json.loads(verify.stdout)["other_version"] is None

        then = json.loads(up.cli("replay", "--as-of", before_pause, "--json").stdout)
        assert {s["name"]: s["state"] for s in then["schedules"]}["ok"] == "active"
        now = json.loads(up.cli("replay", "--json").stdout)
        assert {s["name"]: s["state"] for s in now["schedules"]}["ok"] == "active"

        audit = json.loads(up.cli("audit", "ok", "--json").stdout)
        assert [(a["type"], a["actor"], a.get("reason", "")) for a in audit[1:]] == [
            ("schedule.paused", "alice", "window cleaning"),
            ("schedule.resumed", "bob", ""),
        ]
    finally:
        up.stop()
