"""Why a fire was decided late (scheduler/lateness.py), pure: the gap the deciding scheduler
saw names the cause, for a missed fire and for a skip decided long after its fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jetcron.domain.definition import (
    LATE_DOWN,
    LATE_LOG_FULL,
    LATE_NO_LEADER,
    LATE_UNREACHABLE,
    gap_story,
)
from jetcron.scheduler import lateness
from jetcron.scheduler.lateness import Gap

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def s(n: float) -> datetime:
    return T + timedelta(seconds=n)


OUT: Gap = (LATE_UNREACHABLE, s(10), s(130))
FULL: Gap = (LATE_LOG_FULL, s(300), None)
QUORUM: Gap = (LATE_NO_LEADER, s(-50), s(40))

CAUSES = [
    pytest.param([], s(30), LATE_DOWN, id="no-gap-seen-no-scheduler-ticked"),
    pytest.param(
        [OUT], s(30), "NATS unreachable from 2026-03-01T12:00:10Z to 2026-03-01T12:02:10Z",
        id="own-outage-covers-it",
    ),
    pytest.param(
        [OUT], s(-40), "NATS unreachable from 2026-03-01T12:00:10Z to 2026-03-01T12:02:10Z",
        id="due-within-the-grace-before-it",
    ),
    pytest.param([OUT], s(-61), LATE_DOWN, id="due-long-before-it"),
    pytest.param([OUT], s(131), LATE_DOWN, id="due-after-it-ended"),
    pytest.param([OUT, FULL], s(320), LATE_LOG_FULL, id="log-full-still"),
    pytest.param(
        [QUORUM, OUT], s(20), "NATS unreachable from 2026-03-01T12:00:10Z to 2026-03-01T12:02:10Z",
        id="the-latest-gap-wins",
    ),
    pytest.param(
        [QUORUM], s(0), "no stream leader (lost quorum?) from 2026-03-01T11:59:10Z to "
        "2026-03-01T12:00:40Z", id="lost-quorum",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("gaps", "fire", "cause"), CAUSES)
def test_cause_names_the_gap_the_fire_fell_in(gaps: list[Gap], fire: datetime, cause: str) -> None:
    assert lateness.cause(fire, gaps) == cause
    missed = lateness.missed(fire, T - timedelta(hours=1), "latest", gaps)
    assert missed.startswith(f"{cause}: catch-up policy latest")


def test_a_gaps_times_are_said_to_the_second() -> None:
    # why: measured instants carry microseconds; a reason is read (newcomer20a #12)
    out = (LATE_UNREACHABLE, s(10.989132), s(130.179304))
    assert lateness.cause(s(30), [out]) == (
        "NATS unreachable from 2026-03-01T12:00:10Z to 2026-03-01T12:02:10Z"
    )


def test_a_skip_decided_late_says_how_late_and_why() -> None:
    assert lateness.decided_late(s(0), s(10), [OUT]) == ""  # on time, as a tick is
    assert lateness.decided_late(s(0), s(51), [OUT]) == (
        "; decided 51 s after its fire: NATS unreachable from 2026-03-01T12:00:10Z to "
        "2026-03-01T12:02:10Z"
    )
    assert lateness.decided_late(s(0), s(75), []) == "; decided 75 s after its fire: scheduler down"


@pytest.mark.parametrize(
    ("reason", "story"),
    [
        ("scheduler down: catch-up policy is none", "No scheduler ticked"),
        ("log full: catch-up policy is none", "The log was full (JetStream refused appends)"),
        ("NATS unreachable from A to B: catch-up policy is none", "The scheduler could not reach NATS"),
        ("no stream leader (lost quorum?) from A to B: x", "JetStream had no stream leader (lost quorum?)"),
    ],
)  # fmt: skip
def test_why_tells_the_gap_from_the_stored_reason(reason: str, story: str) -> None:
    assert gap_story(reason) == story


def test_a_skip_of_a_fire_in_a_gap_says_so_once_past_a_tick() -> None:
    # newcomer20b F12: 1 to 7 s late after a restart, under the 10 s a skip on time may take
    resumed = s(7)
    assert lateness.decided_late(s(1), s(8), [], resumed) == (
        "; decided 7 s after its fire: scheduler down"
    )
    assert lateness.decided_late(s(7), s(8), [], resumed) == ""  # due after the take-over
    assert lateness.decided_late(s(6.5), s(8), [], resumed) == ""  # a tick late, no more
    assert lateness.decided_late(s(20), s(25), [OUT]).startswith("; decided 5 s after its fire")
    assert lateness.decided_late(s(140), s(145), [OUT]) == ""  # after the gap ended
