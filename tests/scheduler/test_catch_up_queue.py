"""Catch-up `all` under an overlap policy that forbids side-by-side runs, in the ticker's pure
core: every missed fire runs, oldest first, each once the run before it ended; no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jetcron import subjects
from jetcron.domain.definition import CatchUp, Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import (
    FireBuffered,
    RunSkipped,
    RunSucceeded,
    RunTriggered,
    ScheduleCreated,
    SchedulePaused,
)
from jetcron.scheduler.appends import event_for
from jetcron.scheduler.checkpoint import snapshot_of, state_from
from jetcron.scheduler.entry import queued
from jetcron.scheduler.planner import PAUSED_IN_QUEUE, Complete, decide_due
from jetcron.scheduler.state import TickerState

T0 = datetime(2026, 3, 3, 14, 40, tzinfo=UTC)
"""The first fire after the schedule's creation; the scheduler then stays down 90 s."""
UP_AGAIN = T0 + timedelta(seconds=86)


class Log:
    """A TickerState fed stored events in order, as the ticker's reader would."""

    def __init__(self, overlap: str = "skip", **kw: Any) -> None:
        self.state, self.seq, self.stored = TickerState(), 0, []
        definition = ScheduleDefinition(
            spec="@every 10s", job=Job(command=["true"]), overlap=overlap,  # type: ignore[arg-type]
            catchup=CatchUp(policy="all"), **kw,
        )  # fmt: skip
        self.add("jetcron.sched.cu", T0 - timedelta(seconds=5), ScheduleCreated(
            schedule_id="s1", name="cu_all", version=1, definition=definition
        ))  # fmt: skip

    def add(self, subject: str, at: datetime, event: Any) -> None:
        self.seq += 1
        envelope = Envelope(id=f"e{self.seq}", at=at, actor="test", event=event)
        self.stored.append(StoredEvent(self.seq, subject, envelope))
        self.state.apply(self.stored[-1])
        self.state.advance(self.seq)

    def tick(self, now: datetime) -> list[Any]:
        """Decide what is due at `now` and store it as the ticker would; the events stored."""
        entry = self.state.entries["s1"]
        out = []
        for decision in decide_due(entry, now):
            if isinstance(decision, Complete):
                continue
            subject, event, _ = event_for(entry, decision)
            self.add(subject, now, event)
            out.append(event)
        return out

    def finish(self, trigger: RunTriggered, at: datetime) -> None:
        """The executor's result for a triggered run."""
        done = RunSucceeded(
            schedule_id="s1", name="cu_all", fire_id=trigger.fire_id,
            fire_time=trigger.fire_time, run_id=trigger.run_id, executor="pi1",
        )  # fmt: skip
        self.add(subjects.run("cu_all", trigger.run_id), at, done)

    def of(self, kind: type) -> list[Any]:
        return [s.envelope.event for s in self.stored if isinstance(s.envelope.event, kind)]


def fires(n: int) -> list[datetime]:
    """The first n fires from T0, 10 s apart."""
    return [T0 + timedelta(seconds=10 * i) for i in range(n)]


def drain(log: Log, started: list[Any], now: datetime, limit: int = 50) -> None:
    """Finish each run 50 ms after it started and tick again, until nothing starts."""
    for _ in range(limit):
        triggers = [e for e in started if isinstance(e, RunTriggered)]
        if not triggers:
            return
        now += timedelta(milliseconds=50)
        for t in triggers:
            log.finish(t, now)
        started = log.tick(now)
    raise AssertionError("the queue did not drain")


def test_after_90s_down_every_missed_fire_runs_once_oldest_first_each_in_turn() -> None:
    log = Log()
    first = log.tick(UP_AGAIN)
    # the oldest starts, the other eight wait, each behind the run of the fire before it
    assert [type(e).__name__ for e in first] == ["RunTriggered"] + ["FireBuffered"] * 8
    buffered = [e for e in first if isinstance(e, FireBuffered)]
    runs = [first[0].run_id] + [b.blocking_run_id for b in buffered[1:]]
    assert [b.blocking_run_id for b in buffered] == runs
    assert queued(log.state.entries["s1"]) == fires(9)[1:]

    drain(log, first, UP_AGAIN)
    triggers = log.of(RunTriggered)
    assert [t.fire_time for t in triggers] == fires(9)
    assert len({t.fire_id for t in triggers}) == 9  # exactly once per fire
    assert [t.run_id for t in triggers[:-1]] == [b.blocking_run_id for b in buffered]
    assert log.of(RunSkipped) == [] and queued(log.state.entries["s1"]) == []
    # each trigger was stored only after the run before it had ended
    order = [type(s.envelope.event).__name__ for s in log.stored[-17:]]
    assert order == ["RunSucceeded"] + ["RunTriggered", "RunSucceeded"] * 8


def test_a_checkpoint_in_the_middle_of_the_queue_keeps_it() -> None:
    log = Log()
    log.tick(UP_AGAIN)
    restored = state_from(snapshot_of(log.state))
    assert restored is not None
    assert queued(restored.entries["s1"]) == fires(9)[1:]


def test_a_fire_due_while_the_queue_drains_meets_the_overlap_policy() -> None:
    log = Log()
    [head, *_] = log.tick(UP_AGAIN)  # 14:40:00 runs, 14:40:10 .. 14:41:20 wait
    log.finish(head, UP_AGAIN + timedelta(seconds=3))
    # 14:41:30 falls due as 14:40:10 starts: it is skipped behind that run, not queued
    now = T0 + timedelta(seconds=90)
    started, skipped = log.tick(now)
    assert started.fire_time == fires(2)[1]
    assert isinstance(skipped, RunSkipped) and skipped.blocking_run_id == started.run_id
    assert skipped.fire_time == now
    assert len(queued(log.state.entries["s1"])) == 7


def test_pausing_skips_what_waits_in_the_queue_and_runs_none_of_it() -> None:
    log = Log()
    [head, *_] = log.tick(UP_AGAIN)
    log.add(
        "jetcron.sched.cu", UP_AGAIN, SchedulePaused(schedule_id="s1", name="cu_all", version=2)
    )
    log.finish(head, UP_AGAIN + timedelta(seconds=1))
    skipped = log.tick(UP_AGAIN + timedelta(seconds=1))
    assert [s.fire_time for s in skipped] == fires(9)[1:]
    assert {s.reason for s in skipped} == {PAUSED_IN_QUEUE}
    assert queued(log.state.entries["s1"]) == [] and len(log.of(RunTriggered)) == 1


def test_overlap_allow_runs_them_all_at_once_as_before() -> None:
    log = Log(overlap="allow")
    assert [type(e).__name__ for e in log.tick(UP_AGAIN)] == ["RunTriggered"] * 9
