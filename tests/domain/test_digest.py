"""Mergeable run statistics: fixed log-scale buckets, percentiles from buckets, merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jetcron.domain import digest
from jetcron.domain.digest import Digest

T1 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "index"),
    [
        pytest.param(-3.0, 0, id="negative-lateness"),
        pytest.param(0.0, 0, id="zero"),
        pytest.param(0.001, 0, id="floor"),
        pytest.param(0.0011, 1, id="just-above-floor"),
        pytest.param(0.002, 4, id="one-doubling-exact"),
        pytest.param(0.0021, 5, id="just-above-a-doubling"),
        pytest.param(1.0, 40, id="one-second"),  # 2^(40/4) ms = 1.024 s
        pytest.param(1.025, 41, id="just-above-1.024s"),
        pytest.param(3600.0, 88, id="one-hour"),  # 2^22 ms ≈ 4194 s
        pytest.param(1e9, digest.MAX_BUCKET, id="capped"),
    ],
)
def test_bucket(value: float, index: int) -> None:
    assert digest.bucket(value) == index


@pytest.mark.parametrize("value", [0.0015, 0.37, 1.0, 2.5, 59.9, 3600.0, 86399.0])
def test_a_bucket_upper_bound_is_at_most_19_percent_above_its_values(value: float) -> None:
    bound = digest.upper_bound(digest.bucket(value))
    assert value <= bound < value * 1.19


def test_bucket_agrees_with_the_log_formula_at_and_around_every_bound() -> None:
    # bucket() bisects for speed; right at a bound the log formula (and its slack) decides
    values = [
        bound * (1 + eps)
        for bound in digest._BOUNDS
        for eps in (-1e-7, -1e-9, -1e-12, 0.0, 1e-12, 1e-10, 2e-10, 1e-9, 1e-7, 0.1)
    ]
    values += [1.5, 0.0031, 2.0, 3600.0, 1e9]
    assert [digest.bucket(v) for v in values if v > 0.001] == [
        digest._bucket_by_log(v) for v in values if v > 0.001
    ]


@pytest.mark.parametrize(
    ("buckets", "p", "expected"),
    [
        pytest.param({}, 50, None, id="empty"),
        pytest.param({40: 1}, 50, digest.upper_bound(40), id="one"),
        pytest.param({40: 1, 44: 1}, 50, digest.upper_bound(40), id="median-of-two-is-lower"),
        pytest.param({40: 9, 60: 1}, 95, digest.upper_bound(60), id="p95-reaches-the-tail"),
        pytest.param({40: 99, 60: 1}, 99, digest.upper_bound(40), id="p99-of-100"),
        pytest.param({60: 1, 40: 3}, 100, digest.upper_bound(60), id="max-unsorted-keys"),
    ],
)
def test_percentile(buckets: dict[int, int], p: float, expected: float | None) -> None:
    assert digest.percentile(buckets, p) == expected


def test_add_run_counts_durations_only_for_job_outcomes() -> None:
    d = Digest()
    digest.add_run(d, "succeeded", duration_s=1.0, lateness_s=0.0, finished_at=T1)
    digest.add_run(d, "failed", duration_s=2.0, lateness_s=0.5, finished_at=T2)
    digest.add_run(d, "cancelled", duration_s=30.0, finished_at=T2)
    digest.add_run(d, "skipped")
    assert d.by_status == {"succeeded": 1, "failed": 1, "cancelled": 1, "skipped": 1}
    assert d.durations == {40: 1, 44: 1}
    assert d.duration_max == 2.0
    assert d.lateness == {0: 1, digest.bucket(0.5): 1}
    assert (d.last_success, d.last_failure) == (T1, T2)


def test_merge_adds_counts_and_keeps_maxima_and_latest_times() -> None:
    a = Digest(by_status={"succeeded": 2}, durations={40: 2}, duration_max=1.0, last_success=T1)
    b = Digest(
        by_status={"succeeded": 1, "failed": 1},
        durations={40: 1, 50: 1},
        lateness={3: 2},
        duration_max=5.0,
        last_success=T2,
        last_failure=T1,
    )
    merged = digest.merge([a, b])
    assert merged == Digest(
        by_status={"succeeded": 3, "failed": 1},
        durations={40: 3, 50: 1},
        lateness={3: 2},
        duration_max=5.0,
        last_success=T2,
        last_failure=T1,
    )
    assert digest.merge([merged, Digest()]) == merged
    assert a == Digest(
        by_status={"succeeded": 2}, durations={40: 2}, duration_max=1.0, last_success=T1
    )


def test_day_of_is_the_iso_date_in_the_time_own_zone_however_many_days_it_was_asked() -> None:
    start = datetime(1999, 12, 31, 23, 59, tzinfo=UTC)
    times = [start + timedelta(hours=7 * i) for i in range(20_000)]  # why: past _DAYS_HELD
    times += [datetime(2026, 3, 29, 0, 30, tzinfo=ZoneInfo("Europe/Berlin")), T1, T2]
    assert [digest.day_of(t) for t in times] == [t.date().isoformat() for t in times]
    assert len(digest._DAYS) <= digest._DAYS_HELD
