"""The benchmark harness works: one tiny real run (publish, 2k messages) and the report table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from conftest import require_nats_server

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # why: bench/ is a top-level package next to src/, not installed
    sys.path.insert(0, str(ROOT))

from bench import __main__ as runner  # noqa: E402
from bench import growth, lost_burst, publish, spec_speed, stats_query  # noqa: E402
from bench.common import percentile  # noqa: E402


@pytest.mark.timeout(30)
async def test_publish_benchmark_runs_small() -> None:
    require_nats_server()
    started = time.perf_counter()
    result = await publish.measure(2_000)
    elapsed = time.perf_counter() - started

    assert result["publish_count"] == 2_000
    assert result["raw_publish_per_s"] > 0 and result["append_events_per_s"] > 0
    assert result["payload_bytes"] > 100
    assert elapsed < 25  # why: a hang guard, not a speed test (4 workers share 2 cores)


@pytest.mark.timeout(90)
async def test_growth_benchmark_runs_small() -> None:
    require_nats_server()
    result = await growth.measure([1_500, 4_500], schedules=10, rollup_wait_s=0.5)

    for key in (
        "serve_rss_mib_1k_events", "serve_rss_mib_4k_events", "serve_rss_growth_ratio",
        "serve_rss_mib_4k_events_caught_up",
        "restart_seconds_4k_events", "restart_growth_ratio", "runs_query_ms", "stats_query_ms",
        "disk_bytes_per_run",
    ):  # fmt: skip
        assert result[key] is not None and result[key] > 0, key
    assert result["growth_events_4k"] >= 4_300  # about 4,500: whole hours of runs up to now


def test_spec_speed_runs_small() -> None:
    result = spec_speed.measure(n_specs=20, rounds=2)
    assert result["spec_count"] == 20
    assert result["spec_next_us"] > 0 and result["spec_next_cold_us"] > 0


def test_report_derives_ratios_and_renders_the_table() -> None:
    report = dict.fromkeys(runner.REQUIRED) | {
        "raw_publish_per_s": 1000.0, "append_events_per_s": 850.0,
        "raw_replay_per_s": 200.0, "replay_events_per_s": 100.0,
        "ticker_schedules": 100_000, "ticker_rss_mib_1m_est": 900.0,
        "burst_10k_seconds": 0.3, "nats_native_burst_10k_seconds": 0.25,
    }  # fmt: skip
    runner._derive(report)
    text = runner.table(report)

    assert (report["append_ratio"], report["replay_ratio"], report["ticker_rss_mib_1m"]) == (
        0.85,
        0.5,
        900.0,
    )
    assert report["burst_ratio_vs_native"] == 1.2
    assert "append_ratio" in text and "| yes" in text and "| n/a" in text


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([], 99) is None


def test_stats_query_benchmark_runs_small() -> None:
    result = stats_query.measure(20_000, schedules=10)
    assert result["stats_query_inproc_ms"] > 0 and result["stats_walk_inproc_ms"] > 0
    assert "10 hourly schedules" in result["notes"][0]


def test_views_memory_folds_with_the_leaders_rollups(tmp_path: Path) -> None:
    from bench import views_memory

    path = str(tmp_path / "views.snapshot")
    folded = views_memory.fold(20, 6_000, path)
    assert folded["rollups"] >= 20  # one per schedule and day that ended an hour ago
    assert views_memory.restore(path)["rss"] > 0


@pytest.mark.timeout(60)
async def test_lost_burst_benchmark_runs_small() -> None:
    require_nats_server()
    result = await lost_burst.measure(20)
    assert result["lost_runs"] == 20 and result["lost_client_us_per_run"] > 0
