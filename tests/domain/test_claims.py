"""Who may write a run's events: the subject's writer against the run's trigger and holder."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from jetcron import subjects
from jetcron.domain import claims
from jetcron.domain.claims import Claims
from jetcron.domain.definition import Job
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import (
    RunCancelRequested,
    RunDeferred,
    RunFailed,
    RunLost,
    RunStarted,
    RunSucceeded,
    RunTriggered,
)

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "schedule_id": "s1", "name": "job", "fire_id": "s1:v1:x", "fire_time": T0, "run_id": "r1",
}  # fmt: skip


def trigger(target: str = "host-b") -> RunTriggered:
    return RunTriggered(**BASE, version=1, target=target, job=Job(command=["true"]))


def by(executor: str, target: str = "host-b") -> str:
    return subjects.run_by("job", "r1", target, executor)


SCHEDULER = subjects.run_by_scheduler("job", "r1")
LEGACY = subjects.run("job", "r1")


def started(executor: str = "host-b", attempt: int = 1) -> RunStarted:
    return RunStarted(**BASE, executor=executor, attempt=attempt)


def done(executor: str = "host-b", attempt: int = 1) -> RunSucceeded:
    return RunSucceeded(**BASE, executor=executor, attempt=attempt)


def verdicts(*steps: tuple[str, Any]) -> list[str | None]:
    """check() of each (subject, event) in order, after the run's trigger (target host-b)."""
    state = Claims()
    first = (subjects.trigger("host-b"), trigger())
    out = []
    for seq, (subject, event) in enumerate((first, *steps), start=1):
        envelope = Envelope(id=str(seq), at=T0, actor="t", event=event)
        out.append(claims.check(state, StoredEvent(seq, subject, envelope)))
    return out[1:]


@pytest.mark.parametrize(
    ("steps", "rejected"),
    [
        pytest.param([(by("host-b"), started()), (by("host-b"), done())], [], id="holder"),
        pytest.param([(by("host-a", "host-a"), done("host-a"))], [0], id="other-target"),
        pytest.param([(by("host-a"), done("host-b"))], [0], id="says-another-executor"),
        pytest.param(
            [(by("host-b"), started()), (by("host-c"), done("host-c"))], [1], id="not-the-holder"
        ),
        pytest.param(
            [(by("host-b"), started()), (by("host-c"), started("host-c"))], [1], id="second-start"
        ),
        pytest.param(
            [(by("host-b"), started()), (by("host-c"), started("host-c", 2))], [], id="takeover"
        ),
        pytest.param(
            [
                (by("host-c"), RunDeferred(**BASE, executor="host-c", reason="busy")),
                (by("host-b"), started()),
                (by("host-b"), done()),
            ],
            [],
            id="deferred-then-another-pool-member",
        ),  # fmt: skip
        pytest.param([(by("host-b"), RunLost(**BASE))], [0], id="lost-is-the-schedulers"),
        pytest.param(
            [(by("host-b"), RunCancelRequested(schedule_id="s1", name="job", run_id="r1"))],
            [0],
            id="cancel-request-is-the-schedulers",
        ),
        pytest.param([(by("host-b"), started()), (SCHEDULER, RunLost(**BASE))], [], id="scheduler"),
        pytest.param([(LEGACY, started("host-c")), (LEGACY, done("host-c"))], [], id="older-log"),
        pytest.param(
            [(LEGACY, started("host-c")), (by("host-b"), done())], [1], id="older-log-holder"
        ),
        pytest.param([("jetcron.run.job.r1.x", done())], [0], id="malformed"),
    ],
)
def test_only_the_holder_of_a_run_writes_it(
    steps: list[tuple[str, Any]], rejected: list[int]
) -> None:
    assert [i for i, v in enumerate(verdicts(*steps)) if v is not None] == rejected


def test_a_rejection_says_why() -> None:
    (_, why) = verdicts((by("host-b"), started()), (by("host-c"), done("host-c")))
    assert why == "run.succeeded of run r1: attempt 1 is held by host-b, written by host-c"


def test_fan_out_members_write_only_their_own_run() -> None:
    fan = subjects.fan_target("gpu")
    own = RunFailed(**{**BASE, "run_id": "r1-host-a"}, executor="host-a")
    other = RunFailed(**{**BASE, "run_id": "r1-host-b"}, executor="host-a")
    state = Claims()
    for run_id, event, ok in (("r1-host-a", own, True), ("r1-host-b", other, False)):
        subject = subjects.run_by("job", run_id, fan, "host-a")
        envelope = Envelope(id="1", at=T0, actor="t", event=event)
        assert (claims.check(state, StoredEvent(1, subject, envelope)) is None) is ok


def test_a_final_run_lets_go_of_its_claim() -> None:
    state = Claims()
    for seq, (subject, event) in enumerate(
        [(subjects.trigger("host-b"), trigger()), (by("host-b"), started()), (by("host-b"), done())]
    ):
        claims.check(
            state, StoredEvent(seq, subject, Envelope(id="1", at=T0, actor="t", event=event))
        )
    assert (state.targets, state.starters) == ({}, {})


def test_the_writer_is_read_from_the_subject() -> None:
    assert subjects.run_writer(subjects.run_by("a.b", "r1", "pool.x", "pi.lab")) == (
        "pool.x",
        "pi.lab",
    )
    assert subjects.run_writer(SCHEDULER) == ("", subjects.SCHEDULER_WRITER)
    assert subjects.run_writer(LEGACY) is None


def _fold_triggers(state: Claims, *steps: tuple[int, str, Any]) -> list[str | None]:
    out = []
    for seq, subject, event in steps:
        envelope = Envelope(id=str(seq), at=T0, actor="t", event=event)
        out.append(claims.check(state, StoredEvent(seq, subject, envelope)))
    return out


@pytest.mark.parametrize(
    ("steps", "rejected"),
    [
        pytest.param([], [], id="one-trigger"),
        pytest.param([(by("host-b"), started())], [], id="one-trigger-started"),
        pytest.param([(by("host-b"), started()), (by("host-b"), done())], [3], id="after-the-end"),
        pytest.param([(by("host-b"), started())], [2], id="while-in-flight"),
    ],
)
def test_a_second_trigger_of_a_run_is_rejected(
    steps: list[tuple[str, Any]], rejected: list[int]
) -> None:
    """A copy of a run's trigger re-appended (admin, no auth) must not re-open the run."""
    state = Claims()
    first = (1, subjects.trigger("host-b"), trigger())
    later = [(seq, subject, event) for seq, (subject, event) in enumerate(steps, start=2)]
    again = [(len(steps) + 2, subjects.trigger("host-b"), trigger())] if rejected else []
    verdicts_ = _fold_triggers(state, first, *later, *again)
    assert [i for i, v in enumerate(verdicts_) if v is not None] == rejected
    if rejected:
        assert verdicts_[-1] == "run.triggered of run r1: the run was already triggered (seq 1)"


def test_a_second_fan_out_trigger_is_rejected() -> None:
    fan = RunTriggered(**BASE, version=1, target=subjects.fan_target("gpu"), job=Job(command=["x"]))
    state = Claims()
    subject = subjects.trigger(fan.target)
    assert _fold_triggers(state, (1, subject, fan), (2, subject, fan))[1] is not None


def test_known_triggers_are_bounded_and_runs_in_flight_stay_known() -> None:
    state = Claims()
    trig = subjects.trigger("host-b")
    # r1 runs and ends; r-open stays in flight; then enough other triggers to age both out
    _fold_triggers(state, (1, trig, trigger()), (2, by("host-b"), done()))
    open_run = RunTriggered(**{**BASE, "run_id": "r-open"}, version=1, target="host-b", job=Job())
    _fold_triggers(state, (3, trig, open_run))
    for seq in range(4, 4 + 2 * claims.KNOWN_TRIGGERS):
        other = RunTriggered(**{**BASE, "run_id": f"x{seq}"}, version=1, target="t", job=Job())
        other_done = RunSucceeded(**{**BASE, "run_id": f"x{seq}"}, executor="t")
        _fold_triggers(state, (seq, trig, other), (seq, by("t", "t"), other_done))
    assert len(state.triggers) + len(state.older) <= 2 * claims.KNOWN_TRIGGERS
    again = _fold_triggers(state, (10**6, trig, open_run), (10**6 + 1, trig, trigger()))
    assert again[0] == "run.triggered of run r-open: the run was already triggered"
    assert again[1] is None  # why: an ended run older than what is remembered (documented)
