"""One occurrence skipped: the decider's SkipFire/UnskipFire, and the planner honouring it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from jetcron.domain.commands import CreateSchedule, SkipFire, UnskipFire
from jetcron.domain.definition import CatchUp, Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.errors import CommandRejected
from jetcron.domain.events import FireSkipCancelled, FireSkipPlanned, RunSkipped, ScheduleCreated
from jetcron.scheduler.decider import INITIAL, decide, fold
from jetcron.scheduler.planner import Skip, Trigger, decide_due
from jetcron.scheduler.state import TickerState

NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
FIRE = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)  # 03:00 in Berlin
JOB = Job(command=["true"])


def meta(command_id: str, at: datetime = NOW, reason: str = "") -> dict[str, object]:
    return {
        "name": "backup",
        "command_id": command_id,
        "at": at,
        "actor": "alice",
        "reason": reason,
    }


def created(spec: str = "0 3 * * *") -> ScheduleCreated:
    definition = ScheduleDefinition(spec=spec, tz="Europe/Berlin", job=JOB)
    [event] = decide(INITIAL, CreateSchedule(**meta("c1"), definition=definition))  # type: ignore[arg-type]
    assert isinstance(event, ScheduleCreated)
    return event


def skip(when: datetime = FIRE, at: datetime = NOW) -> SkipFire:
    return SkipFire(**meta("k1", at, "holiday"), fire_time=when)  # type: ignore[arg-type]


def test_skip_records_who_and_why() -> None:
    [event] = decide(fold([created()]), skip())
    assert event == FireSkipPlanned(
        schedule_id=created().schedule_id,
        name="backup",
        version=2,
        fire_time=FIRE,
        by="alice",
        reason="holiday",
    )
    assert event.fate == "skipped by alice: holiday"


def test_skip_twice_is_satisfied_and_unskip_undoes_it() -> None:
    state = fold([created(), *decide(fold([created()]), skip())])
    assert decide(state, skip()) == []
    [undone] = decide(state, UnskipFire(**meta("u1"), fire_time=FIRE))  # type: ignore[arg-type]
    assert isinstance(undone, FireSkipCancelled) and undone.version == 3
    assert decide(fold([created()]), UnskipFire(**meta("u2"), fire_time=FIRE)) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        pytest.param(
            FIRE + timedelta(minutes=30),
            "2026-12-24T02:30:00Z is not a fire time of '0 3 * * *' in Europe/Berlin; "
            "the nearest are 2026-12-24T02:00:00Z and 2026-12-25T02:00:00Z",
            id="not-a-fire-time",
        ),
        pytest.param(
            NOW - timedelta(days=1, hours=10),
            "2026-12-19T02:00:00Z has passed; only a coming fire can be skipped",
            id="past",
        ),
    ],
)
def test_skip_refuses_what_is_no_coming_fire(when: datetime, problem: str) -> None:
    with pytest.raises(CommandRejected, match=re.escape(problem)):
        decide(fold([created()]), skip(when))


# ---------------------------------------------------------------- the ticker's planner


def stored(seq: int, event: object, at: datetime = NOW) -> StoredEvent:
    envelope = Envelope(id=f"e{seq}", at=at, actor="alice", event=event)  # type: ignore[arg-type]
    return StoredEvent(seq, "jetcron.sched.backup", envelope)


def ticker_with_skip() -> TickerState:
    state = TickerState()
    first = created("0 * * * *")
    state.apply(stored(1, first))
    planned = decide(fold([first]), skip(datetime(2026, 12, 20, 14, 0, tzinfo=UTC)))[0]
    state.apply(stored(2, planned))
    return state


def test_the_planner_skips_that_fire_only() -> None:
    state = ticker_with_skip()
    [entry] = state.entries.values()
    assert decide_due(entry, datetime(2026, 12, 20, 13, 0, 1, tzinfo=UTC)) == [
        Trigger(datetime(2026, 12, 20, 13, 0, tzinfo=UTC))
    ]
    at_two = datetime(2026, 12, 20, 14, 0, 1, tzinfo=UTC)
    entry.last_fire = datetime(2026, 12, 20, 13, 0, tzinfo=UTC)
    assert decide_due(entry, at_two) == [
        Skip(datetime(2026, 12, 20, 14, 0, tzinfo=UTC), "skipped by alice: holiday", None)
    ]


def test_a_skip_beats_catch_up_and_is_forgotten_once_recorded() -> None:
    state = ticker_with_skip()
    [entry] = state.entries.values()
    entry.timing = msgspec.structs.replace(
        entry.timing, catchup=CatchUp(policy="all", window_s=86400), overlap="allow"
    )
    later = datetime(2026, 12, 20, 15, 30, tzinfo=UTC)
    decisions = decide_due(entry, later)
    hour = [datetime(2026, 12, 20, h, 0, tzinfo=UTC) for h in (13, 14, 15)]
    assert decisions == [
        Skip(hour[1], "skipped by alice: holiday", None),
        Trigger(hour[0]),
        Trigger(hour[2]),
    ]
    fire_two = datetime(2026, 12, 20, 14, 0, tzinfo=UTC)
    skipped = RunSkipped(
        schedule_id=entry.schedule_id,
        name="backup",
        fire_id="f",
        fire_time=fire_two,
        reason="skipped by alice: holiday",
    )
    state.apply(stored(3, skipped))
    assert entry.skips is None
