"""Admission: the pure verdict, the deferral backoff, and the psutil sampler."""

from __future__ import annotations

from collections import namedtuple

import pytest

from jetcron.domain.definition import Conditions
from jetcron.executors.admission import (
    MAX_DEFER_DELAY_S,
    HostSample,
    HostSampler,
    IdleTracker,
    Verdict,
    busy_percent,
    defer_delay,
    evaluate,
)

CALM = HostSample(
    cpu_percent=5.0, memory_percent=40.0, load_per_core=0.2, disk_percent=50.0, idle_s=600.0
)


def busy(**changes: float) -> HostSample:
    fields = {f: getattr(CALM, f) for f in CALM.__struct_fields__} | changes
    return HostSample(**fields)


@pytest.mark.parametrize(
    ("conditions", "sample", "expected"),
    [
        pytest.param(Conditions(), busy(cpu_percent=100), Verdict(ok=True), id="no-thresholds"),
        pytest.param(Conditions(max_cpu_percent=50), CALM, Verdict(ok=True), id="cpu-under"),
        pytest.param(
            Conditions(max_cpu_percent=50),
            busy(cpu_percent=50),
            Verdict(ok=True),
            id="cpu-at-limit",
        ),
        pytest.param(
            Conditions(max_cpu_percent=50),
            busy(cpu_percent=75),
            Verdict(False, "cpu 75.0 > 50", 0.5),
            id="cpu-over",
        ),
        pytest.param(
            Conditions(max_memory_percent=0),
            busy(memory_percent=40),
            Verdict(False, "memory 40.0 > 0", 0.4),
            id="memory-forced",
        ),
        pytest.param(
            Conditions(max_load=1.0),
            busy(load_per_core=1.5),
            Verdict(False, "load 1.5 > 1", 0.5),
            id="load-over",
        ),
        pytest.param(
            Conditions(max_load=1.0),
            busy(load_per_core=9.0),
            Verdict(False, "load 9.0 > 1", 1.0),
            id="load-capped",
        ),
        pytest.param(
            Conditions(disk_above_percent=80),
            busy(disk_percent=40),
            Verdict(False, "disk 40.0 <= 80 (waiting until fuller)", 0.5),
            id="disk-not-full-enough",
        ),
        pytest.param(
            Conditions(disk_above_percent=80),
            busy(disk_percent=90),
            Verdict(ok=True),
            id="disk-full-enough",
        ),
        pytest.param(
            Conditions(disk_below_percent=80),
            busy(disk_percent=90),
            Verdict(False, "disk 90.0 > 80", 0.5),
            id="disk-too-full",
        ),
        pytest.param(
            Conditions(idle_minutes=20),
            busy(idle_s=300),
            Verdict(False, "idle 5.0 min < 20 min", 0.75),
            id="not-idle-long-enough",
        ),
        pytest.param(Conditions(idle_minutes=5), CALM, Verdict(ok=True), id="idle-long-enough"),
        pytest.param(
            Conditions(max_cpu_percent=50, max_memory_percent=30),
            busy(cpu_percent=60, memory_percent=100),
            Verdict(False, "cpu 60.0 > 50; memory 100.0 > 30", 1.0),
            id="several-max-pressure",
        ),
    ],
)
def test_evaluate(conditions: Conditions, sample: HostSample, expected: Verdict) -> None:
    assert evaluate(conditions, sample) == expected


def test_pressure_stays_in_range_at_extreme_limits() -> None:
    verdict = evaluate(
        Conditions(max_cpu_percent=100, disk_above_percent=0), busy(cpu_percent=101, disk_percent=0)
    )
    assert not verdict.ok and verdict.pressure == 1.0


@pytest.mark.parametrize(
    ("pressure", "deferrals", "expected"),
    [(0.0, 0, 10.0), (1.0, 0, 20.0), (0.5, 2, 33.75), (1.0, 20, MAX_DEFER_DELAY_S), (7.0, 0, 20.0)],
)
def test_defer_delay(pressure: float, deferrals: int, expected: float) -> None:
    assert defer_delay(10.0, pressure, deferrals) == pytest.approx(expected)


def test_defer_delay_survives_huge_counts() -> None:
    assert defer_delay(10.0, 0.0, 10_000) == MAX_DEFER_DELAY_S


def test_idle_tracker_streaks() -> None:
    idle = IdleTracker()
    idle.observe(0.0, 50.0)
    assert idle.idle_s(1.0) == 0.0
    idle.observe(10.0, 3.0)
    idle.observe(20.0, 4.0)
    assert idle.idle_s(25.0) == 25.0  # why: the first quiet reading covered 0..10
    idle.observe(30.0, 80.0)
    assert idle.idle_s(35.0) == 0.0


def test_busy_percent_from_cpu_times() -> None:
    Times = namedtuple("Times", "user system idle iowait guest guest_nice")  # noqa: PYI024
    before = Times(100, 50, 800, 50, 10, 0)
    after = Times(160, 70, 890, 60, 20, 0)  # why: +80 busy, +100 idle; guest is inside user
    assert busy_percent(before, after) == 44.4
    assert busy_percent(after, after) == 0.0


def test_sampler_reads_the_host() -> None:
    sampler = HostSampler()
    sample = sampler.sample_for(Conditions(disk_path="/", disk_above_percent=1))
    assert 0 <= sample.cpu_percent <= 100 and 0 < sample.memory_percent <= 100
    assert (
        sample.load_per_core >= 0
        and sample.disk_percent is not None
        and 0 < sample.disk_percent <= 100
    )
    assert sampler.sample_for(Conditions(max_cpu_percent=90)).disk_percent is None
