"""Why a fire was decided late (scheduler/lateness.py), pure: the gap the deciding scheduler
saw names the cause, for a missed fire and for a skip decided long after its fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jetcron.domain.definition import (
    LATE_DOWN,
    LATE_LOG_FULL,
    LATE_NO_LEADER,
    LATE_QUIET,
    LATE_UNREACHABLE,
    gap_story,
    late_kind,
)
from jetcron.scheduler import lateness
from jetcron.scheduler.late_cause import Gap, Held, Seen, Tenure

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def s(n: float) -> datetime:
    return T + timedelta(seconds=n)


OUT: Gap = (LATE_UNREACHABLE, s(10), s(130))
FULL: Gap = (LATE_LOG_FULL, s(300), None)
QUORUM: Gap = (LATE_NO_LEADER, s(-50), s(40))
OUT_TEXT = "NATS unreachable from 2026-03-01T12:00:10Z to 2026-03-01T12:02:10Z"

CAUSES = [
    pytest.param([], s(30), LATE_DOWN, id="no-gap-seen-no-scheduler-ticked"),
    pytest.param([OUT], s(30), OUT_TEXT, id="own-outage-covers-it"),
    pytest.param([OUT], s(9), OUT_TEXT, id="due-a-tick-before-it"),
    # nc21c #1/#2: an outage that began after the fire, or ended before it, is not its cause
    pytest.param([OUT], s(-40), LATE_DOWN, id="an-outage-after-the-fire-not-blamed"),
    pytest.param([OUT], s(131), LATE_DOWN, id="due-after-it-ended"),
    pytest.param([OUT, FULL], s(320), "log full since 2026-03-01T12:05:00Z", id="log-full-still"),
    pytest.param([QUORUM, OUT], s(20), OUT_TEXT, id="the-latest-begun-gap-wins"),
    pytest.param(
        [QUORUM], s(0), "no stream leader (lost quorum?) from 2026-03-01T11:59:10Z to "
        "2026-03-01T12:00:40Z", id="lost-quorum",
    ),
    pytest.param(
        # nc21c #1: a full log for 50 s, then a 3 s restart of nats-server after the fire
        [(LATE_LOG_FULL, s(10), s(60)), (LATE_UNREACHABLE, s(55), s(58))], s(30),
        "log full from 2026-03-01T12:00:10Z to 2026-03-01T12:01:00Z", id="full-not-the-later-restart",
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
    assert (
        lateness.decided_late(s(20), s(71), [OUT]) == f"; decided 51 s after its fire: {OUT_TEXT}"
    )
    assert lateness.decided_late(s(0), s(75), []) == "; decided 75 s after its fire: scheduler down"


@pytest.mark.parametrize(
    ("reason", "story"),
    [
        ("scheduler down: catch-up policy is none", "No scheduler ticked"),
        ("log full: catch-up policy is none", "The log was full (JetStream refused appends)"),
        ("NATS unreachable from A to B: catch-up policy is none", "The scheduler could not reach NATS"),
        ("no stream leader (lost quorum?) from A to B: x", "JetStream had no stream leader (lost quorum?)"),
        ("the leader did not tick (s1 held …): x", "The scheduler holding the ticker lease did not tick"),
        ("leader busy (s2 held …): x", "The leading scheduler ticked late"),
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


def test_one_outage_seen_by_two_connections_has_one_start() -> None:
    # nc21c #2: each connection of a process notes its own outage, from its own last answer
    two = [(LATE_UNREACHABLE, s(10.3), s(130.1)), (LATE_UNREACHABLE, s(11.9), s(130.5))]
    assert lateness.cause(s(11), two) == lateness.cause(s(100), two) == OUT_TEXT


A_HELD = Tenure("s1", s(-100), s(0))
FREE = Tenure("", s(5), s(20))
B_HOLDS = Tenure("s2", s(21), s(60), mine=True)

LEASE = [
    pytest.param(
        [A_HELD, FREE, B_HOLDS], s(10),
        "scheduler down (no scheduler held the ticker lease from 2026-03-01T12:00:00Z to "
        "2026-03-01T12:00:21Z)", id="nobody-held-the-lease",
    ),
    pytest.param(
        [A_HELD, FREE, B_HOLDS], s(-10),
        "the leader did not tick (s1 held the ticker lease until 2026-03-01T12:00:00Z and did "
        "not tick)", id="another-held-it-and-did-not-tick",
    ),
    pytest.param(
        [A_HELD, FREE, B_HOLDS], s(40), "leader busy (s2 held the ticker lease and ticked late)",
        id="this-leader-held-it-and-ticked-late",
    ),
    pytest.param(
        [Tenure("s2", s(-100), s(0), mine=True), FREE, B_HOLDS], s(-10),
        "the leader did not tick (this replica, s2, held the ticker lease until "
        "2026-03-01T12:00:00Z and did not tick)", id="this-replica-before-it-lost-the-lease",
    ),
    pytest.param([B_HOLDS], s(-30), LATE_DOWN, id="nothing-seen-then"),
]  # fmt: skip


@pytest.mark.parametrize(("tenures", "fire", "cause"), LEASE)
def test_scheduler_down_only_when_nobody_held_the_lease(
    tenures: list[Tenure], fire: datetime, cause: str
) -> None:
    assert lateness.cause(fire, Seen(tenures=tenures)) == cause


def test_a_gap_comes_before_who_held_the_lease() -> None:
    assert lateness.cause(s(30), Seen(gaps=[OUT], tenures=[A_HELD, FREE, B_HOLDS])) == OUT_TEXT


def test_a_fire_held_after_a_take_over_says_it_waited() -> None:
    # nc21c #2: after NATS came back, a fire held 15 s for a run's result said "scheduler down"
    held = Seen(held=Held(s(30), "9bc8881d0a1b2c3d", s(45)), tenures=[B_HOLDS])
    waited = (
        "waited for the result of run 9bc8881d, fired before this leader took over "
        "(until 2026-03-01T12:00:45Z)"
    )
    assert lateness.cause(s(30), held) == waited
    assert lateness.decided_late(s(30), s(45), held) == f"; decided 15 s after its fire: {waited}"
    assert lateness.decided_late(s(30), s(34), held) == f"; decided 4 s after its fire: {waited}"
    assert lateness.cause(s(40), held).startswith("leader busy")  # another fire: not held
    assert gap_story(waited) == (
        "The leader waited for the result of a run fired before it took over"
    )


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("log full from A to B: catch-up policy is none", LATE_LOG_FULL),
        ("scheduler down (no scheduler held the ticker lease from 2026-12-03T13:20:02Z to "
         "2026-12-03T13:20:10Z): catch-up policy is none", LATE_DOWN),
        ("overlap: previous run still in flight; decided 41 s after its fire: the leader did not "
         "tick (s1 held the ticker lease until 2026-12-03T13:20:32Z and did not tick)", LATE_QUIET),
        ("coalesced: several fires were due at once; only the newest (2026-12-03T13:18:30Z) runs; "
         "decided 38 s after its fire: NATS unreachable from A to B", LATE_UNREACHABLE),
        ("overlap: previous run still in flight", ""),
    ],
)  # fmt: skip
def test_a_reasons_cause_without_its_details_groups_fires(reason: str, kind: str) -> None:
    # for summaries (cli/echo.py): one rule for where the cause is and which it is
    assert late_kind(reason) == kind


def test_the_cause_is_taken_when_the_fire_was_due_its_jitter_included() -> None:
    # the ticker wakes for a fire at its time plus the jitter chosen for it (domain/lateness.py)
    assert lateness.cause(s(-30), [OUT], jitter_s=45) == OUT_TEXT
    assert lateness.cause(s(-30), [OUT]) == LATE_DOWN
    assert lateness.decided_late(s(-30), s(40), [OUT], jitter_s=45) == (
        f"; decided 25 s after its fire: {OUT_TEXT}"
    )
