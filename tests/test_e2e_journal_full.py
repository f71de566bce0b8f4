"""An executor whose journal disk is full (newcomer16b F9), as the operator sees it: one line
naming the journal and the condition (no traceback every redelivery), the problem in its
heartbeat, so `executors` shows it and `health` reports it; freed space lets the run start once.

Needs a small tmpfs to fill (root with mount rights); skipped where it cannot be mounted.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from polling import wait_until
from test_e2e import ENV, Up


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; the file (delete it to free the space)."""
    hog = disk / "fill"
    with hog.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    return hog


def test_a_full_journal_disk_is_one_line_a_heartbeat_problem_and_a_health_problem(
    up: Up, small_disk: Path, tmp_path: Path
) -> None:
    journal, out = small_disk / "journal", tmp_path / "ex.log"
    with out.open("wb") as sink:
        ex = subprocess.Popen(
            [sys.executable, "-m", "jetcron", "executor", "--name", "exfull", "--target",
             "exfull", "--journal-dir", str(journal), "-s", up.url],
            stdout=sink, stderr=subprocess.STDOUT, env=ENV,
        )  # fmt: skip
    try:
        wait_until(lambda: "serving" in out.read_text(), 30, "the executor to serve")
        hog = fill(small_disk)
        added = up.cli("schedule", "add", "jf", "@every 1h", "-t", "exfull", "--", "true")
        assert added.returncode == 0, added.stderr
        fired = up.cli("schedule", "trigger", "jf", "--reason", "test")
        assert fired.returncode == 0, fired.stderr

        wait_until(lambda: "cannot journal run" in out.read_text(), 30, "the journal line")

        def problems() -> list[str]:
            rows = json.loads(up.cli("executors", "--json").stdout)
            return [p for r in rows if r["name"] == "exfull" for p in r.get("problems", [])]

        [shown] = wait_until(problems, 30, "the heartbeat's problem")  # type: ignore[misc]
        table = up.cli("executors").stdout
        health = up.cli("health", "--json")
        time.sleep(6)  # a redelivery or two (every 5 s) while the disk stays full
        full_log = out.read_text()

        hog.unlink()
        runs = wait_until(
            lambda: [
                r
                for r in json.loads(up.cli("runs", "list", "--schedule", "jf", "--json").stdout)
                if r["status"] == "succeeded"
            ],
            30,
            "the run to succeed once space is back",
        )
        wait_until(lambda: not problems(), 30, "the problem to clear from the heartbeat")
        healthy_again = json.loads(up.cli("health", "--json").stdout)
    finally:
        ex.terminate()
        ex.wait(20)

    assert shown == f"journal unwritable: no space left on device on {journal}"
    assert shown in table
    assert health.returncode == 1, health.stdout + health.stderr
    assert {"kind": "executor_problem", "subject": "exfull", "detail": shown} in json.loads(
        health.stdout
    )["problems"]
    [line] = [x for x in full_log.splitlines() if "cannot journal run" in x]
    assert line.endswith(f": no space left on device on {journal}; the run waits until it can be "
                         "(redelivered)"), line  # fmt: skip
    assert "Traceback" not in full_log and "failed to process" not in full_log, full_log
    assert len(runs) == 1  # type: ignore[arg-type]
    assert [p for p in healthy_again["problems"] if p["kind"] == "executor_problem"] == []
    assert f"journal {journal} writable again" in out.read_text()


def test_an_executor_started_on_a_full_journal_disk_serves_and_says_so(
    up: Up, small_disk: Path, tmp_path: Path
) -> None:
    journal, out = small_disk / "journal", tmp_path / "ex.log"
    journal.mkdir()
    hog = fill(small_disk)
    with out.open("wb") as sink:
        ex = subprocess.Popen(
            [sys.executable, "-m", "jetcron", "executor", "--name", "exfull", "--target",
             "exfull", "--journal-dir", str(journal), "-s", up.url],
            stdout=sink, stderr=subprocess.STDOUT, env=ENV,
        )  # fmt: skip
    try:
        wait_until(lambda: "serving" in out.read_text(), 30, "the executor to serve")

        def problems() -> list[str]:
            rows = json.loads(up.cli("executors", "--json").stdout)
            return [p for r in rows if r["name"] == "exfull" for p in r.get("problems", [])]

        [shown] = wait_until(problems, 30, "the heartbeat's problem")  # type: ignore[misc]
        hog.unlink()
        wait_until(lambda: not problems(), 30, "the problem to clear once space is back")
    finally:
        ex.terminate()
        ex.wait(20)
    text = out.read_text()

    assert shown == f"journal unwritable: no space left on device on {journal}"
    assert f"cannot open the journal: no space left on device on {journal}; runs wait" in text
    assert "Traceback" not in text and ex.returncode == 0, text
