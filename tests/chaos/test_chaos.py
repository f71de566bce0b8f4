"""The chaos run in CI: a minute of SIGKILLs and a 30 s NATS outage, then every promise checked.

Real processes (nats-server, two `jetcron serve`, two `jetcron executor`, job supervisors),
seeded; the long soak is the same code: `python -m bench.chaos --duration 600`. See
bench/chaos.py for what it counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_nats_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_sixty_seconds_of_kill_9_and_a_nats_outage_keep_every_promise(tmp_path: Path) -> None:
    require_nats_server()
    report_file = tmp_path / "chaos.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--duration", "60", "--outage", "30",
         "--seed", "4", "--json", str(report_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    report = json.loads(report_file.read_text())
    summary = done.stdout + f"\nwork dir (logs): {report['work_dir']}"
    assert report["outage_s"] >= 30, summary
    assert sum(report["kills"].values()) >= 8, summary
    assert report["runs_succeeded"] > 50, summary
    assert report["doubled_runs"] == [], summary
    assert report["lost_fires"] == [], summary
    assert report["unterminated_runs"] == [], summary
    assert report["leftover_processes"] == [], summary
    assert report["unexpected_exits"] == [], summary
    assert done.returncode == 0, summary
