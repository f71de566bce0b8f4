"""A second `run.triggered` of a run already triggered leaves the ticker's state alone: the
run does not come back in flight, later fires are not skipped as overlapping it; no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jetcron import ids, subjects
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import RunStarted, RunSucceeded, RunTriggered, ScheduleCreated
from jetcron.scheduler.planner import Trigger, decide_due
from jetcron.scheduler.state import TickerState

T0 = datetime(2026, 12, 2, 17, 27, 30, tzinfo=UTC)
STEP = timedelta(seconds=10)
FIRE = ids.fire_id("s1", 1, T0)
RUN = ids.run_id_for(FIRE)
RUN_FIELDS: dict[str, Any] = {
    "schedule_id": "s1", "name": "pz", "fire_id": FIRE, "fire_time": T0, "run_id": RUN,
}  # fmt: skip


class Log:
    """A TickerState fed stored events in order, as the ticker's reader would."""

    def __init__(self) -> None:
        self.state, self.seq = TickerState(), 0
        definition = ScheduleDefinition(spec="@every 10s", job=Job(command=["true"]))
        created = ScheduleCreated(schedule_id="s1", name="pz", version=1, definition=definition)
        self.add("jetcron.sched.pz", T0 - STEP, created)
        self.trigger = RunTriggered(**RUN_FIELDS, version=1, target="default", job=definition.job)

    def add(self, subject: str, at: datetime, event: Any) -> None:
        self.seq += 1
        envelope = Envelope(id=f"e{self.seq}", at=at, actor="test", event=event)
        self.state.apply(StoredEvent(self.seq, subject, envelope))
        self.state.advance(self.seq)

    def word(self, kind: type[RunStarted | RunSucceeded], at: datetime) -> None:
        event = kind(**RUN_FIELDS, executor="vm")
        self.add(subjects.run_by("pz", RUN, "default", "vm"), at, event)


@pytest.mark.parametrize("ended", [True, False], ids=["after-the-end", "while-running"])
def test_a_second_trigger_changes_nothing(ended: bool) -> None:
    log = Log()
    log.add(subjects.trigger("default"), T0, log.trigger)
    log.word(RunStarted, T0 + timedelta(seconds=1))
    if ended:
        log.word(RunSucceeded, T0 + timedelta(seconds=2))
    entry = log.state.entries["s1"]
    before = (dict(entry.in_flight or {}), entry.runs, entry.last_fire, log.state.claims.targets)

    log.add(subjects.trigger("default"), T0 + timedelta(seconds=5), log.trigger)

    after = (dict(entry.in_flight or {}), entry.runs, entry.last_fire, log.state.claims.targets)
    assert after == before
    if ended:
        assert decide_due(entry, T0 + STEP) == [Trigger(T0 + STEP)]
