"""End to end: `jetcron up` whose data dir's disk really fills (a tmpfs, then a file that takes
the rest), as newcomer18b F2 did: health and status say why nothing fires, and `up` restarts its
nats-server once the disk has room (a stuck stream takes appends only after a restart)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from conftest import fill_disk, free_port, require_nats_server, small_disk
from polling import wait_until
from test_e2e import Up

STUCK = "nats-server cannot write its store: "


def _until(what: Callable[[], bool], up: Up, timeout: float = 60.0) -> None:
    """Wait for `what`; on failure, the tail of up's log says what happened instead."""
    wait_until(what, timeout, lambda: up.log.read_text()[-6000:], every=0.5)


def _health(up: Up) -> tuple[int, list[dict[str, str]]]:
    done = up.cli("health", "--json")
    return done.returncode, json.loads(done.stdout or "{}").get("problems", [])


def test_a_full_data_disk_is_reported_and_up_restarts_nats_server_once_there_is_room(
    tmp_path: Path,
) -> None:
    require_nats_server()
    with small_disk(tmp_path / "disk", "48m") as disk:
        up = Up(disk / "jetcron", free_port())
        up.log = tmp_path / "up.out"  # why: not on the disk that fills
        up.start()
        try:
            added = up.cli("schedule", "add", "tick", "@every 1s", "--", "true")
            assert added.returncode == 0, added.stderr
            _until(lambda: "tick succeeded" in up.log.read_text(), up)

            filler = fill_disk(disk)
            _until(lambda: any(p["kind"] == "log_full" for p in _health(up)[1]), up)
            _until(lambda: STUCK in up.log.read_text(), up, 10)
            rc, problems = _health(up)
            [full] = [p for p in problems if p["kind"] == "log_full"]
            assert rc == 1 and STUCK in full["detail"], full
            assert "jetcron up restarts nats-server once 16.0 MiB are free" in full["detail"]
            status = up.cli("status")
            assert "note: log full: appends refused since" in status.stdout + status.stderr
            assert STUCK in status.stdout + status.stderr
            # newcomer18b F10: the replica knows the append failed; the CLI says so
            paused = up.cli("schedule", "pause", "tick", "--reason", "disk test")
            assert paused.returncode == 1, paused.stdout + paused.stderr
            assert "`pause` not applied: the log takes no appends (" in paused.stderr
            assert "begun applying" not in paused.stderr

            filler.unlink()
            _until(lambda: "restarting nats-server (its stuck stream" in up.log.read_text(), up)
            _until(lambda: _health(up)[0] == 0, up)
            stalled = up.log.read_text().count("tick succeeded")
            _until(lambda: up.log.read_text().count("tick succeeded") > stalled, up)  # not paused
            fires = up.cli("fires", "tick", "--json")
            reasons = [
                f.get("reason", "") for f in json.loads(fires.stdout) if f["status"] == "missed"
            ]
            # why: the ticker kept its lease (the KV stream stored) and its unacked triggers
            # were sent again after the restart; a fire it gave up is `log full`, not `down`
            assert all(r.startswith("log full") for r in reasons), reasons
            said = up.log.read_text()
            assert said.count(STUCK) == 1 and said.count("restarting nats-server (its") == 1, said
        finally:
            up.stop()
