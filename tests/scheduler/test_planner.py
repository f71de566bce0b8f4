"""The ticker's pure planner: given an entry and the time, then its decisions; no server."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jetcron.domain.definition import CatchUp, Job, ScheduleDefinition
from jetcron.scheduler.entry import Entry
from jetcron.scheduler.firetimes import _next_wake, next_due
from jetcron.scheduler.planner import (
    NOT_STARTED,
    PAUSED_IN_QUEUE,
    Buffer,
    Cancel,
    Complete,
    Decision,
    Lose,
    Miss,
    Skip,
    Trigger,
    decide_due,
    pending_run_id,
)

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
"""A fire time of the default spec; every case is planned around it."""
SPEC = "*/5 * * * *"
STATE = {
    "floor",
    "last_fire",
    "runs",
    "in_flight",
    "fires",
    "buffered",
    "backlog",
    "active",
    "completed",
}
IN_FLIGHT = {"r0": T + timedelta(hours=1)}
"""One run still going (its deadline far ahead)."""
BUSY = "overlap: previous run still in flight"
WAITING = "overlap buffer_one: a fire is already waiting ("
DOWN = "scheduler down: "
COALESCED = "coalesced: several fires were due at once; only the newest ("
LATEST = DOWN + "catch-up policy latest runs only the most recent due fire"


def run_of(fire: datetime) -> str:
    """The run id a fire of the default entry gets."""
    return pending_run_id(entry(), fire)


def minutes(n: float) -> datetime:
    """T plus n minutes."""
    return T + timedelta(minutes=n)


def entry(spec: str = SPEC, **kw: Any) -> Entry:
    """An entry created a minute before T; `kw` mixes definition fields and entry state."""
    state = {"floor": minutes(-1), **{k: v for k, v in kw.items() if k in STATE}}
    fields = {k: v for k, v in kw.items() if k not in STATE}
    definition = ScheduleDefinition(spec=spec, job=Job(command=["true"]), **fields)
    return Entry.of("s1", "backup", 1, definition, **state)


def late(policy: str, **kw: Any) -> Entry:
    """Down since just after T-1m: the fires at T, T+5, T+10 and T+15 are due at T+17."""
    return entry(catchup=CatchUp(policy=policy, **kw), overlap="allow")  # type: ignore[arg-type]


def queued_late(overlap: str, **kw: Any) -> Entry:
    """Down since just after T-1m with catch-up all and this overlap policy (see `late`)."""
    policy = {k: kw.pop(k) for k in ("max_fires",) if k in kw}
    return entry(catchup=CatchUp(policy="all", **policy), overlap=overlap, **kw)


CASES = [
    # -- on time --------------------------------------------------------------------------
    pytest.param(entry(), T - timedelta(seconds=1), [], id="nothing-due-yet"),
    pytest.param(entry(), T, [Trigger(T)], id="due-exactly-now"),
    pytest.param(entry(), minutes(1), [Trigger(T)], id="up-to-60s-late-is-on-time"),
    pytest.param(entry(last_fire=T), minutes(4), [], id="fire-already-recorded"),
    pytest.param(entry(active=False), minutes(1), [], id="paused"),
    pytest.param(entry(completed=True), minutes(1), [], id="completed"),
    pytest.param(entry(start=minutes(10)), minutes(9), [], id="start-in-the-future"),
    pytest.param(entry(start=minutes(10)), minutes(10), [Trigger(minutes(10))], id="start-fires"),
    # -- catch-up after downtime ----------------------------------------------------------
    pytest.param(
        late("latest"),
        minutes(17),
        [
            Miss(T, LATEST),
            Miss(minutes(5), LATEST),
            Miss(minutes(10), LATEST),
            Trigger(minutes(15)),
        ],
        id="catch-up-latest",
    ),
    pytest.param(
        late("all"),
        minutes(17),
        [Trigger(T), Trigger(minutes(5)), Trigger(minutes(10)), Trigger(minutes(15))],
        id="catch-up-all",
    ),
    pytest.param(
        late("all", max_fires=2),
        minutes(17),
        [
            Miss(T, DOWN + "more missed fires than catch-up max_fires"),
            Miss(minutes(5), DOWN + "more missed fires than catch-up max_fires"),
            Trigger(minutes(10)),
            Trigger(minutes(15)),
        ],
        id="catch-up-all-capped",
    ),
    pytest.param(
        late("none"),
        minutes(17),
        [Miss(minutes(m), DOWN + "catch-up policy is none") for m in (0, 5, 10, 15)],
        id="catch-up-none",
    ),
    pytest.param(
        late("all", window_s=600),
        minutes(17),
        [
            Miss(T, DOWN + "fire older than the catch-up window"),
            Miss(minutes(5), DOWN + "fire older than the catch-up window"),
            Trigger(minutes(10)),
            Trigger(minutes(15)),
        ],
        id="catch-up-window",
    ),
    pytest.param(
        late("latest"),
        minutes(15.5),
        [
            Miss(T, LATEST),
            Miss(minutes(5), LATEST),
            Miss(minutes(10), LATEST),
            Trigger(minutes(15)),
        ],
        id="catch-up-latest-with-one-on-time",
    ),
    # -- overlap with a run in flight -----------------------------------------------------
    pytest.param(
        entry(in_flight=dict(IN_FLIGHT), overlap="skip"),
        T,
        [Skip(T, BUSY, "r0")],
        id="overlap-skip",
    ),
    pytest.param(
        entry(in_flight=dict(IN_FLIGHT), overlap="buffer_one"),
        T,
        [Buffer(T, "r0")],
        id="overlap-buffer-one",
    ),
    pytest.param(
        entry(in_flight=dict(IN_FLIGHT), overlap="buffer_one", buffered=minutes(-5)),
        T,
        [Skip(T, WAITING + "2026-03-01T11:55:00Z) for the run in flight", "r0")],
        id="overlap-buffer-one-already-holds-one",
    ),
    pytest.param(
        entry(overlap="buffer_one", buffered=minutes(-5), last_fire=minutes(-5)),
        T,
        [Trigger(minutes(-5)), Buffer(T, run_of(minutes(-5)))],
        id="overlap-buffer-one-released-when-the-run-ends-frees-the-buffer",
    ),
    pytest.param(
        entry(in_flight=dict(IN_FLIGHT), overlap="allow"),
        T,
        [Trigger(T)],
        id="overlap-allow",
    ),
    pytest.param(
        entry(in_flight=dict(IN_FLIGHT), overlap="cancel_previous"),
        T,
        [Cancel("r0"), Trigger(T)],
        id="overlap-cancel-previous",
    ),
    pytest.param(
        entry(catchup=CatchUp(policy="all")),
        minutes(7),
        [Trigger(T), Buffer(minutes(5), run_of(T))],
        id="overlap-skip-caught-up-fires-run-each-in-turn",
    ),
    # -- catch-up all: the fires due at once run one after another -------------------------
    pytest.param(
        queued_late("skip"),
        minutes(17),
        [
            Trigger(T),
            Buffer(minutes(5), run_of(T)),
            Buffer(minutes(10), run_of(minutes(5))),
            Buffer(minutes(15), run_of(minutes(10))),
        ],
        id="catch-up-all-overlap-skip-queues-each-behind-the-one-before",
    ),
    pytest.param(
        queued_late("buffer_one"),
        minutes(17),
        [
            Trigger(T),
            Buffer(minutes(5), run_of(T)),
            Buffer(minutes(10), run_of(minutes(5))),
            Buffer(minutes(15), run_of(minutes(10))),
        ],
        id="catch-up-all-overlap-buffer-one-queues-them-too",
    ),
    pytest.param(
        queued_late("cancel_previous"),
        minutes(17),
        [
            Trigger(T),
            Buffer(minutes(5), run_of(T)),
            Buffer(minutes(10), run_of(minutes(5))),
            Buffer(minutes(15), run_of(minutes(10))),
        ],
        id="catch-up-all-overlap-cancel-previous-cancels-none-of-them",
    ),
    pytest.param(
        queued_late("skip", in_flight=dict(IN_FLIGHT)),
        minutes(17),
        [
            Buffer(T, "r0"),
            Buffer(minutes(5), run_of(T)),
            Buffer(minutes(10), run_of(minutes(5))),
            Buffer(minutes(15), run_of(minutes(10))),
        ],
        id="catch-up-all-waits-for-a-run-in-flight",
    ),
    pytest.param(
        queued_late("skip", max_fires=2),
        minutes(17),
        [
            Miss(T, DOWN + "more missed fires than catch-up max_fires"),
            Miss(minutes(5), DOWN + "more missed fires than catch-up max_fires"),
            Trigger(minutes(10)),
            Buffer(minutes(15), run_of(minutes(10))),
        ],
        id="catch-up-all-queue-is-capped",
    ),
    pytest.param(
        queued_late("skip", buffered=T, backlog=[minutes(5), minutes(10)], last_fire=minutes(10)),
        minutes(12),
        [Trigger(T)],
        id="queue-head-starts-when-nothing-runs-the-rest-wait",
    ),
    pytest.param(
        queued_late(
            "skip",
            buffered=minutes(5),
            backlog=[minutes(10)],
            last_fire=minutes(10),
            in_flight=dict(IN_FLIGHT),
        ),
        minutes(12),
        [],
        id="queue-waits-while-the-run-ahead-runs",
    ),
    pytest.param(
        queued_late("skip", buffered=minutes(10), last_fire=minutes(10)),
        minutes(15),
        [Trigger(minutes(10)), Skip(minutes(15), BUSY, run_of(minutes(10)))],
        id="a-fire-due-alone-while-the-queue-drains-meets-the-overlap-policy",
    ),
    pytest.param(
        queued_late(
            "skip", buffered=minutes(5), backlog=[minutes(10)], last_fire=minutes(10), active=False
        ),
        minutes(12),
        [Skip(minutes(5), PAUSED_IN_QUEUE, None), Skip(minutes(10), PAUSED_IN_QUEUE, None)],
        id="pausing-skips-the-queued-fires",
    ),
    pytest.param(
        queued_late("skip", max_runs=2),
        minutes(17),
        [Trigger(T), Buffer(minutes(5), run_of(T))],
        id="run-limit-counts-queued-fires-and-completion-waits-for-the-queue",
    ),
    pytest.param(
        queued_late("skip", max_runs=2, runs=1, buffered=minutes(5), last_fire=minutes(5)),
        minutes(17),
        [Trigger(minutes(5)), Complete("run limit of 2 reached")],
        id="completes-when-the-last-queued-fire-starts",
    ),
    # -- several fires due at once (a stall shorter than the grace) ---------------------------
    pytest.param(
        entry("@every 10s", floor=T - timedelta(seconds=1), overlap="skip"),
        T + timedelta(seconds=30),
        [
            Skip(T, COALESCED + "2026-03-01T12:00:30Z) runs", None),
            Skip(T + timedelta(seconds=10), COALESCED + "2026-03-01T12:00:30Z) runs", None),
            Skip(T + timedelta(seconds=20), COALESCED + "2026-03-01T12:00:30Z) runs", None),
            Trigger(T + timedelta(seconds=30)),
        ],
        id="stall-overlap-skip-runs-only-the-newest",
    ),
    pytest.param(
        entry("@every 10s", floor=T - timedelta(seconds=1), overlap="allow"),
        T + timedelta(seconds=10),
        [Trigger(T), Trigger(T + timedelta(seconds=10))],
        id="stall-overlap-allow-runs-each",
    ),
    pytest.param(
        entry(
            "@every 10s",
            floor=T - timedelta(seconds=1),
            overlap="skip",
            catchup=CatchUp(policy="all"),
        ),
        T + timedelta(seconds=10),
        [Trigger(T), Buffer(T + timedelta(seconds=10), run_of(T))],
        id="stall-catch-up-all-runs-the-oldest-first-then-each-in-turn",
    ),
    # -- lost runs ------------------------------------------------------------------------
    pytest.param(
        entry(in_flight={"r0": T - timedelta(seconds=1)}),
        T,
        [Lose("r0"), Trigger(T)],
        id="lost-run-unblocks-the-next-fire",
    ),
    pytest.param(
        entry(in_flight={"r0": T}, active=False),
        T,
        [Lose("r0")],
        id="lost-run-of-a-paused-schedule",
    ),
    pytest.param(
        entry(in_flight={"r0": T}, fires={"r0": ("s1:v1:f0", minutes(-60))}, active=False),
        T,
        [Lose("r0", "s1:v1:f0", minutes(-60))],
        id="lost-run-names-its-fire",
    ),
    # -- end and run limit ----------------------------------------------------------------
    pytest.param(
        entry(end=T),
        minutes(1),
        [Trigger(T), Complete("end of the schedule's time range")],
        id="end-last-fire",
    ),
    pytest.param(
        entry(end=minutes(-1), last_fire=minutes(-5)),
        T,
        [Complete("end of the schedule's time range")],
        id="end-passed",
    ),
    pytest.param(entry(end=minutes(3)), minutes(1), [Trigger(T)], id="end-ahead"),
    pytest.param(
        entry(max_runs=3, runs=2),
        T,
        [Trigger(T), Complete("run limit of 3 reached")],
        id="max-runs-last-run",
    ),
    pytest.param(entry(max_runs=3, runs=1), T, [Trigger(T)], id="max-runs-left"),
    pytest.param(
        entry(max_runs=3, runs=2, catchup=CatchUp(policy="all"), overlap="allow"),
        minutes(17),
        [Trigger(T), Complete("run limit of 3 reached")],
        id="max-runs-caps-catch-up",
    ),
    pytest.param(
        entry("@at 2026-03-01T12:00:00Z"),
        T,
        [Trigger(T), Complete("one-off schedule fired")],
        id="one-off-fires-and-completes",
    ),
    pytest.param(
        entry("@at 2026-03-01T12:00:00Z", floor=minutes(1)),
        minutes(2),
        [Complete("one-off time has passed")],
        id="one-off-created-after-its-time",
    ),
]


def told(decisions: list[Decision]) -> list[Decision]:
    """The decisions without the note a skip decided long after its fire carries (how late,
    why: lateness.decided_late, pinned in test_lateness.py)."""
    return [
        replace(d, reason=d.reason.split(LATE_NOTE)[0]) if isinstance(d, Skip) else d
        for d in decisions
    ]


LATE_NOTE = "; decided "


@pytest.mark.parametrize(("given", "now", "then"), CASES)
def test_decide_due(given: Entry, now: datetime, then: list[Decision]) -> None:
    assert told(decide_due(given, now)) == then


@pytest.mark.parametrize(
    ("given", "then"),
    [
        pytest.param(
            entry(in_flight=dict(IN_FLIGHT), overlap="skip"),
            [Skip(T, NOT_STARTED, "r0")],
            id="skip",
        ),
        pytest.param(
            entry(in_flight=dict(IN_FLIGHT), overlap="buffer_one", buffered=minutes(-5)),
            [
                Skip(
                    T,
                    WAITING + "2026-03-01T11:55:00Z) for the run triggered, not started yet",
                    "r0",
                )
            ],
            id="buffer-one-full",
        ),
        pytest.param(
            entry(in_flight=dict(IN_FLIGHT), overlap="buffer_one"), [Buffer(T, "r0")], id="buffer"
        ),
    ],
)
def test_an_overlap_with_a_run_not_started_yet_says_so(given: Entry, then: list[Decision]) -> None:
    """A run triggered with no start folded (TickerState.unstarted) is not said to be running."""
    assert decide_due(given, T, unstarted={"r0"}) == then
    assert decide_due(given, T, unstarted={"r9"}) != then or isinstance(then[0], Buffer)


@pytest.mark.parametrize(
    ("given", "then"),
    [
        pytest.param(entry(), T, id="next-fire"),
        pytest.param(entry(last_fire=T), minutes(5), id="after-the-last-fire"),
        pytest.param(entry(in_flight={"r0": minutes(2)}), T, id="fire-before-deadline"),
        pytest.param(
            entry(in_flight={"r0": minutes(2)}, last_fire=T), minutes(2), id="run-deadline"
        ),
        pytest.param(entry(start=minutes(10)), minutes(10), id="start"),
        pytest.param(entry(end=minutes(-1), last_fire=minutes(-5)), minutes(-1), id="completion"),
        pytest.param(entry(active=False), None, id="paused"),
        pytest.param(
            entry(max_runs=2, runs=1, buffered=T, last_fire=T, in_flight={"r0": minutes(9)}),
            minutes(9),
            id="run-limit-reached-by-the-queue-wakes-for-the-run-ahead-only",
        ),
    ],
)
def test_next_due(given: Entry, then: datetime | None) -> None:
    assert next_due(given) == then


@pytest.mark.parametrize("spec", [SPEC, "@every 90s", "0 2 * * *", f"@at {T.isoformat()}"])
@pytest.mark.parametrize("floor", [None, minutes(-1), T, minutes(7)])
@pytest.mark.parametrize("last_fire", [None, minutes(-5), T, minutes(7)])
def test_next_due_of_a_plain_timing_is_its_next_wake(
    spec: str, floor: datetime | None, last_fire: datetime | None
) -> None:
    # why: next_due writes out the plain case (no bounds, limit, jitter); it must agree with
    # the general path it stands in for
    given = entry(spec, floor=floor, last_fire=last_fire)
    assert next_due(given) == _next_wake(given)


def test_an_overlap_skip_of_a_fire_due_before_the_take_over_says_it_was_decided_late() -> None:
    """newcomer20b F12: after a `kill -9` of `up` and a restart 7 s later, the fires skipped for
    overlap meanwhile said only the overlap; a missed or coalesced fire says why it was late."""
    # why a day: its last word came after the take-over (as an adopted run's does): no hold
    given = entry(in_flight={"r0": T + timedelta(days=1)}, overlap="skip")
    s = timedelta(seconds=1)
    [skip] = decide_due(given, T + 7 * s, taken_over=T + 6 * s)
    assert skip == Skip(T, f"{BUSY}; decided 7 s after its fire: scheduler down", "r0")
    # a fire due after the take-over, decided as promptly as a tick, says nothing more
    assert decide_due(given, T + 7 * s, taken_over=T - s) == [Skip(T, BUSY, "r0")]
