"""buffer_one and catch-up together: a fire buffered before the ticker was away is a late fire
like the ones due since (newcomer18a F1), and what coalesced fires say is what happened to the
fire they were coalesced into. Given an entry and the time, then its decisions; no server."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from test_planner import (
    BUSY,
    COALESCED,
    IN_FLIGHT,
    LATEST,
    WAITING,
    T,
    entry,
    minutes,
    run_of,
    told,
)

from jetcron.domain.definition import CatchUp
from jetcron.scheduler.entry import Entry
from jetcron.scheduler.lateness import WAITED
from jetcron.scheduler.planner import (
    SETTLE,
    Buffer,
    Complete,
    Decision,
    Hold,
    Miss,
    Skip,
    Trigger,
    decide_due,
)

NONE = "scheduler down: catch-up policy is none"
WINDOW = "scheduler down: fire older than the catch-up window"


def s(n: float) -> datetime:
    """T plus n seconds."""
    return T + timedelta(seconds=n)


def every(first: float, last: float) -> list[datetime]:
    """The `@every 5s` fires from T+first to T+last seconds."""
    return [s(n) for n in range(int(first), int(last) + 1, 5)]


def buffered(policy: str = "latest", **kw: Any) -> Entry:
    """`@every 5s`, overlap buffer_one, the fire of T waiting in the buffer (the run before it
    was in flight when the ticker last decided, at T); `kw` as for test_planner.entry."""
    catchup = CatchUp(policy=policy, window_s=kw.pop("window_s", 3600))  # type: ignore[arg-type]
    given = {"overlap": "buffer_one", "buffered": T, "last_fire": T, "catchup": catchup, **kw}
    return entry("@every 5s", **given)


def coalesced(newest: datetime, fires: list[datetime], then: str = "") -> list[Decision]:
    why = f"{COALESCED}{newest.isoformat().replace('+00:00', 'Z')}) runs{then}"
    return [Skip(f, why, None) for f in fires]


def skipping(fire: datetime, why: str) -> Entry:
    """`*/5 * * * *`, buffer_one, the fire of T buffered, and an operator's skip of `fire`."""
    given = entry("*/5 * * * *", overlap="buffer_one", buffered=T, last_fire=T)
    given.skips = {fire: why}
    return given


AWAY = [Miss(f, LATEST) for f in every(5, 15)]
"""Back at T+80 s: the fires of T+5..15 s are more than 60 s late; T+20..80 s are on time."""

CASES = [
    # -- the ticker was away: the buffered fire is one of the late fires ---------------------
    pytest.param(
        buffered(),
        s(80),
        [
            Miss(T, LATEST + WAITED),
            *AWAY,
            *coalesced(s(80), every(20, 75)),
            Trigger(s(80)),
        ],
        id="restart-latest-runs-the-newest-not-the-stale-buffered-fire",
    ),
    pytest.param(
        buffered(in_flight=dict(IN_FLIGHT)),
        s(80),
        [
            Miss(T, LATEST + WAITED),
            *AWAY,
            *coalesced(s(80), every(20, 75), ", once the run before it ends"),
            Buffer(s(80), "r0"),
        ],
        id="restart-with-the-run-still-in-flight-the-newest-takes-the-buffer",
    ),
    pytest.param(
        buffered(),
        s(70),
        [
            Miss(T, LATEST + WAITED),
            Miss(s(5), LATEST),
            *coalesced(s(70), every(10, 65)),
            Trigger(s(70)),
        ],
        id="restart-the-first-fire-due-since-is-late",
    ),
    pytest.param(
        buffered("none"),
        s(80),
        [
            Miss(T, NONE + WAITED),
            *[Miss(f, NONE) for f in every(5, 15)],
            *coalesced(s(80), every(20, 75)),
            Trigger(s(80)),
        ],
        id="restart-catch-up-none-misses-it",
    ),
    pytest.param(
        buffered(window_s=78),
        s(80),
        [
            Miss(T, WINDOW + WAITED),
            Miss(s(5), LATEST),  # why: 75 s old, inside the 78 s window
            Miss(s(10), LATEST),
            Miss(s(15), LATEST),
            *coalesced(s(80), every(20, 75)),
            Trigger(s(80)),
        ],
        id="restart-older-than-the-window",
    ),
    pytest.param(
        buffered("all"),
        s(80),
        [
            Trigger(T),
            *[Buffer(f, run_of(f - timedelta(seconds=5))) for f in every(5, 80)],
        ],
        id="restart-catch-up-all-runs-it-first-then-each-in-turn",
    ),
    pytest.param(
        skipping(minutes(5), "skipped by alice: maintenance"),
        minutes(6.5),
        [Trigger(T), Skip(minutes(5), "skipped by alice: maintenance", None)],
        id="restart-latest-keeps-it-when-no-newer-fire-may-run",
    ),
    pytest.param(
        entry("*/5 * * * *", overlap="buffer_one", buffered=T, last_fire=T, max_runs=2, runs=1),
        minutes(12),
        [
            Miss(T, LATEST + WAITED),
            Trigger(minutes(5)),  # why: the one run left; fires past the limit are never due
            Complete("run limit of 2 reached"),
        ],
        id="restart-the-run-limit-no-longer-counts-the-dropped-fire",
    ),
    # -- not away: the buffer keeps its promise ----------------------------------------------
    pytest.param(
        buffered(),
        s(30),
        [
            Trigger(T),
            *coalesced(s(30), every(5, 25), ", once the run before it ends"),
            Buffer(s(30), run_of(T)),
        ],
        id="short-stall-it-runs-and-the-newest-waits-behind-it",
    ),
    pytest.param(
        buffered("none", last_fire=s(175)),
        s(180),
        [Trigger(T), Buffer(s(180), run_of(T))],
        id="after-a-long-run-it-runs-though-old-and-the-fire-due-now-waits",
    ),
    pytest.param(
        buffered("none", last_fire=s(175)),
        s(177),
        [Trigger(T)],
        id="after-a-long-run-alone",
    ),
    pytest.param(
        buffered(in_flight=dict(IN_FLIGHT)),
        s(30),
        [
            Skip(f, WAITING + "2026-03-01T12:00:00Z) for the run in flight", "r0")
            for f in every(5, 30)
        ],
        id="short-stall-buffer-full-each-skipped-for-it",
    ),
    # -- skip: the coalesced fires say what became of the newest ------------------------------
    pytest.param(
        entry("@every 10s", floor=s(-1), overlap="skip", in_flight=dict(IN_FLIGHT)),
        s(30),
        [Skip(f, BUSY, "r0") for f in (T, s(10), s(20), s(30))],
        id="stall-with-a-run-in-flight-each-skipped-for-it",
    ),
]


@pytest.mark.parametrize(("given", "now", "then"), CASES)
def test_buffer_one_after_the_ticker_was_away(
    given: Entry, now: datetime, then: list[Decision]
) -> None:
    assert told(decide_due(given, now)) == then


def test_a_stall_held_after_a_take_over_is_held_whole_while_its_oldest_fire_is_on_time() -> None:
    # why: a held newest fire decided alone would leave the older ones "coalesced into" a
    # fire that may yet be skipped; held together, they get one story when the hold ends
    given = entry("@every 10s", floor=s(-1), overlap="skip", in_flight={"r0": minutes(30)})
    taken_over = s(40)
    assert decide_due(given, s(45), taken_over=taken_over) == [Hold(s(40), "r0", s(55))]
    assert taken_over + SETTLE > s(55)  # the oldest fire's grace, not the settle time, ends it
    assert told(decide_due(given, s(55), taken_over=taken_over)) == [
        Skip(f, BUSY, "r0") for f in (T, s(10), s(20), s(30), s(40), s(50))
    ]
