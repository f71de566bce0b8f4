"""Run statistics: nearest-rank percentiles, success rate, grouping and windows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from projection_factory import T0, History, fold

from jetcron.projections import stats


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, None),
        ([7.0], 99, 7.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 50, 5.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 95, 10.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90, 9.0),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([float(v) for v in range(1, 101)], 99, 99.0),
    ],
)
def test_nearest_rank_percentile(values: list[float], p: float, expected: float | None) -> None:
    assert stats.percentile(values, p) == expected


def mixed_history() -> History:
    """Schedule `a`: 3 succeeded (1s, 2s, 10s), 1 failed, 1 timed out, 1 cancelled, 1 skipped."""
    h = History()
    h.create("a")
    h.create("b")
    for minute, duration in enumerate((1.0, 2.0, 10.0)):
        h.now = T0 + timedelta(minutes=minute)
        run = h.trigger("a", h.now)
        h.tick(timedelta(seconds=minute))
        h.started(run, executor="host-a")  # late by 2s, 3s, 4s
        h.succeeded(run, duration_s=duration, executor="host-a")
    h.failed(h.trigger("a", T0 + timedelta(minutes=10)), duration_s=4.0, executor="host-b")
    h.timed_out(h.trigger("a", T0 + timedelta(minutes=11)), timeout_s=60.0, executor="host-b")
    h.cancelled(h.trigger("a", T0 + timedelta(minutes=12)))
    h.skipped("a", T0 + timedelta(minutes=13))
    h.trigger("b", T0 + timedelta(minutes=20))
    return h


def test_success_rate_and_percentiles_per_schedule() -> None:
    views = fold(mixed_history().events)

    a, b = stats.compute(views.runs, now=T0 + timedelta(days=1))

    assert (a.key, a.runs, a.finished, a.success_rate) == ("a", 6, 5, 0.6)
    assert a.by_status == {
        "succeeded": 3,
        "failed": 1,
        "timed_out": 1,
        "cancelled": 1,
        "skipped": 1,
    }
    assert (a.duration_p50, a.duration_p95, a.duration_max) == (4.0, 60.0, 60.0)
    assert (a.lateness_p50, a.lateness_p99) == (3.0, 4.0)
    assert a.last_success is not None and a.last_failure is not None
    assert (b.key, b.runs, b.finished, b.success_rate, b.duration_p50) == ("b", 1, 0, None, None)


def test_group_by_executor_and_overall() -> None:
    views = fold(mixed_history().events)
    now = T0 + timedelta(days=1)

    by_executor = {r.key: r for r in stats.compute(views.runs, now=now, group="executor")}
    (overall,) = stats.compute(views.runs, now=now, group="overall")

    assert sorted(by_executor) == [stats.NO_EXECUTOR, "host-a", "host-b"]
    assert (by_executor["host-a"].success_rate, by_executor["host-b"].success_rate) == (1.0, 0.0)
    assert (overall.key, overall.runs, overall.finished) == ("overall", 7, 5)


def test_window_and_schedule_filter() -> None:
    views = fold(mixed_history().events)
    now = T0 + timedelta(minutes=10, seconds=30)

    (recent,) = stats.compute(views.runs, now=now, window=timedelta(minutes=5), schedule="a")

    assert (recent.runs, recent.by_status) == (1, {"failed": 1})
    assert stats.compute(views.runs, now=now, schedule="nope") == []


def test_a_duration_not_known_is_not_counted_as_0s() -> None:
    # why: newcomer18b F5: a run whose supervisor died (its job had ended) read 0 s and
    # pulled the percentiles down; its duration is not known, and left out.
    h = History()
    h.create("a")
    h.succeeded(h.trigger("a", T0), duration_s=2.0)
    h.failed(h.trigger("a", T0 + timedelta(minutes=1)), exit_code=None, duration_s=None)
    views = fold(h.events)

    (a,) = stats.compute(views.runs, now=T0 + timedelta(days=1))

    assert (a.finished, a.duration_p50, a.duration_max) == (2, 2.0, 2.0)
    assert [r.duration_s for r in views.runs.rows.values()] == [2.0, None]
