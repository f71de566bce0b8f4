"""bench/cli_latency runs small: every figure of one round against a real `jetcron serve`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jetcron.server import NatsServer

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # why: bench/ is a top-level package next to src/, not installed
    sys.path.insert(0, str(ROOT))

from bench import __main__ as runner  # noqa: E402
from bench import cli_latency  # noqa: E402


@pytest.mark.timeout(90)
def test_cli_latency_runs_small(nats_server: NatsServer, tmp_path: Path) -> None:
    figures = cli_latency.measure(nats_server.url, rounds=1, schedules=1, tmp=tmp_path)

    cli_keys = (
        "python_startup_ms",
        "cli_floor_ms",
        "cli_version_ms",
        "cli_preview_ms",
        "cli_list_ms",
    )
    for key in cli_keys:
        assert key in runner.REQUIRED
        assert figures[key] > 0, key
    assert figures["cli_list_over_floor_ms"] == round(
        figures["cli_list_ms"] - figures["cli_floor_ms"], 1
    )
    assert "cli_latency" in runner.MODULES
    assert {"cli_version_ms", "cli_preview_ms", "cli_list_ms"} <= set(runner.REQUIRED)
