"""`jetcron due` against a real `jetcron serve`: 12 hours of sub-minute schedules, capped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jetcron.server import NatsServer

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    n = 2 if args[0] == "schedule" else 1
    return subprocess.run(
        [sys.executable, "-m", "jetcron", *args[:n], "--server", url, *args[n:]],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )


@pytest.fixture
def served(nats_server: NatsServer, tmp_path: Path) -> Iterator[str]:
    url = nats_server.url
    with (tmp_path / "serve.out").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jetcron", "serve", "--server", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
    try:
        deadline = time.monotonic() + 30
        while cli(url, "status").returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def test_due_over_twelve_hours_is_capped_and_says_so(served: str) -> None:
    for name, every in [("a", "10s"), ("b", "15s"), ("c", "20s"), ("d", "30s")]:
        added = cli(served, "schedule", "add", name, f"@every {every}", "--", "true")
        assert added.returncode == 0, added.stderr

    shown = cli(served, "due", "--within", "12h", "--json")
    assert shown.returncode == 0, shown.stderr
    assert len(json.loads(shown.stdout)) == 100
    assert "capped: the first 100 fires are shown" in shown.stderr
    assert "--limit 200" in shown.stderr

    table = cli(served, "due", "--within", "12h", "--limit", "1000")
    assert table.returncode == 0, table.stderr
    assert "capped: the first 1000 fires" in table.stderr and "shorter --within" in table.stderr

    berlin = cli(served, "schedule", "add", "e", "@every 5s", "--tz", "Europe/Berlin", "--", "true")
    assert berlin.returncode == 0, berlin.stderr
    soon = cli(served, "due", "--within", "6s").stdout
    # why: local time as preview, next and show print it, with the zone's name, not ISO
    assert " CET (+01:00)  e " in soon or " CEST (+02:00)  e " in soon, soon

    few = cli(served, "due", "--within", "5s", "--json")
    assert few.returncode == 0 and "capped" not in few.stderr
    assert cli(served, "due", "--limit", "0").returncode == 2
