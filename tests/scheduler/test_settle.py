"""A fire that finds a run of the last leader's time in flight just after a take-over is held,
not skipped, while that run's result may still arrive (planner.SETTLE; newcomer16b F2)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from test_planner import BUSY, IN_FLIGHT, T, entry, minutes, told

from jetcron.scheduler.entry import LOST_GRACE, Entry, run_budget
from jetcron.scheduler.planner import (
    SETTLE,
    Buffer,
    Decision,
    Hold,
    Lose,
    Skip,
    Trigger,
    decide_due,
)


def s(n: float) -> datetime:
    """T plus n seconds."""
    return T + timedelta(seconds=n)


def heard(at: datetime) -> dict[str, datetime]:
    """Run r0 in flight, its last word (trigger or start) at `at`: its deadline (the
    definition's default timeout, 1 h)."""
    return {"r0": at + run_budget(3600.0, LOST_GRACE)}


def busy(**kw: object) -> Entry:
    """Run r0 of the fire five minutes before T still in flight (no result in the log)."""
    given: dict[str, object] = {
        "overlap": "skip",
        "in_flight": dict(IN_FLIGHT),
        "fires": {"r0": ("f0", minutes(-5))},
        "last_fire": minutes(-5),
    }
    return entry(**{**given, **kw})


CASES = [
    pytest.param(busy(), s(5), None, [Skip(T, BUSY, "r0")], id="no-take-over-known-skips"),
    pytest.param(busy(), s(5), s(3), [Hold(T, "r0", s(3) + SETTLE)], id="held-after-take-over"),
    pytest.param(busy(), s(3) + SETTLE, s(3), [Skip(T, BUSY, "r0")], id="skipped-when-hold-ends"),
    pytest.param(
        busy(in_flight=None, fires=None), s(8), s(3), [Trigger(T)], id="runs-once-the-run-ended"
    ),
    pytest.param(
        busy(in_flight=heard(s(-2))),
        s(5),
        s(-3),
        [Skip(T, BUSY, "r0")],
        id="run-heard-of-since-the-take-over-skips",
    ),
    pytest.param(
        busy(in_flight=heard(s(-4))),
        s(5),
        s(-3),
        [Hold(T, "r0", s(-3) + SETTLE)],
        id="run-last-heard-of-before-the-take-over-held",
    ),
    pytest.param(
        busy(last_fire=minutes(5)),
        s(601),
        minutes(-10),
        [Skip(minutes(10), BUSY, "r0")],
        id="take-over-long-ago",
    ),
    pytest.param(
        busy(), s(50), s(49), [Hold(T, "r0", s(55))], id="late-fire-held-only-while-on-time"
    ),
    pytest.param(busy(), s(55), s(49), [Skip(T, BUSY, "r0")], id="late-fire-then-skipped"),
    pytest.param(
        busy(overlap="buffer_one", buffered=minutes(-4)),
        s(5),
        s(3),
        [Hold(T, "r0", s(23))],
        id="buffer-one-full-held-too",
    ),
    pytest.param(
        busy(overlap="buffer_one"), s(5), s(3), [Buffer(T, "r0")], id="buffer-one-buffers-as-always"
    ),
    pytest.param(
        busy(end=s(1)),
        s(5),
        s(3),
        [Hold(T, "r0", s(23))],
        id="a-held-fire-keeps-it-from-completing",
    ),
]


@pytest.mark.parametrize(("given", "now", "taken_over", "then"), CASES)
def test_hold_after_take_over(
    given: Entry, now: datetime, taken_over: datetime | None, then: list[Decision]
) -> None:
    assert told(decide_due(given, now, taken_over=taken_over)) == then


def overdue_run(**kw: object) -> Entry:
    """Run r0 in flight whose deadline passed at T (its executor was not heard of since)."""
    return busy(in_flight={"r0": T}, last_fire=minutes(60), **kw)


LOST = [Lose("r0", "f0", minutes(-5))]
LOST_CASES = [
    pytest.param(overdue_run(), s(1), None, LOST, id="no-take-over-lost-at-once"),
    pytest.param(overdue_run(), s(1), T, [], id="just-after-take-over-not-yet"),
    pytest.param(
        overdue_run(), T + SETTLE - timedelta(seconds=0.5), T, [], id="within-settle-not-yet"
    ),
    pytest.param(overdue_run(), T + SETTLE, T, LOST, id="lost-once-settled"),
    pytest.param(overdue_run(), s(90), s(-600), LOST, id="take-over-long-ago-lost-at-once"),
]


@pytest.mark.parametrize(("given", "now", "taken_over", "then"), LOST_CASES)
def test_no_run_is_lost_until_settled_after_a_take_over(
    given: Entry, now: datetime, taken_over: datetime | None, then: list[Decision]
) -> None:
    """newcomer18b F1: an executor sends the result it held through an outage once NATS is
    back; declared lost at once, its success was stored after the `run.lost` and shown lost."""
    assert [d for d in decide_due(given, now, taken_over=taken_over) if isinstance(d, Lose)] == then
