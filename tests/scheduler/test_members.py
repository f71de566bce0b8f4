"""Fan-out members in the ticker's pure core: in flight from their first word, lost past their
deadline by the plain runs' rule (one Lose, one run.lost, one msg id each); no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jetcron import ids, subjects
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import (
    RunDeferred,
    RunEvent,
    RunFailed,
    RunLost,
    RunStarted,
    RunSucceeded,
    RunTriggered,
    ScheduleCreated,
    ScheduleDeleted,
)
from jetcron.domain.runs import member_run_id
from jetcron.scheduler import lost
from jetcron.scheduler.checkpoint import snapshot_of, state_from
from jetcron.scheduler.planner import Lose, Trigger, decide_due
from jetcron.scheduler.state import LOST_GRACE, TickerState

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=30)
FIRE = ids.fire_id("s1", 1, T0)
RUN = ids.run_id_for(FIRE)
PI2, PI3 = member_run_id(RUN, "pi2"), member_run_id(RUN, "pi3")


class Log:
    """A TickerState fed stored events in order, as the ticker's reader would."""

    def __init__(self, overlap: str = "skip", grace: timedelta = LOST_GRACE) -> None:
        self.state, self.seq = TickerState(grace), 0
        self.events: list[Any] = []
        definition = ScheduleDefinition(
            spec="@every 1h", job=Job(command=["true"]), target="all:lights",
            timeout_s=TIMEOUT.total_seconds(), overlap=overlap,  # type: ignore[arg-type]
        )  # fmt: skip
        self.add("jetcron.sched.fan", T0 - timedelta(hours=1), ScheduleCreated(
            schedule_id="s1", name="fan", version=1, definition=definition
        ))  # fmt: skip
        self.add(subjects.trigger("all:lights"), T0, RunTriggered(
            schedule_id="s1", name="fan", fire_id=FIRE, fire_time=T0, run_id=RUN, version=1,
            target="all:lights", job=definition.job, timeout_s=definition.timeout_s,
        ))  # fmt: skip

    def add(self, subject: str, at: datetime, event: Any) -> None:
        self.seq += 1
        self.events.append(event)
        envelope = Envelope(id=f"e{self.seq}", at=at, actor="test", event=event)
        self.state.apply(StoredEvent(self.seq, subject, envelope))
        self.state.advance(self.seq)

    def word(self, kind: type[RunEvent], run_id: str, at: datetime, **kw: Any) -> None:
        """An event of a member's run, on its executor's subject (`<run>-<executor>`)."""
        executor = run_id.rpartition("-")[2]
        event = kind(
            schedule_id="s1", name="fan", fire_id=FIRE, fire_time=T0, run_id=run_id,
            executor=executor, **kw,
        )  # fmt: skip
        self.add(subjects.run_by("fan", run_id, "all:lights", executor), at, event)

    def lost(self, run_id: str, at: datetime) -> None:
        """The scheduler's run.lost, as the ticker appends it."""
        [lose] = [d for d in self.due(at) if isinstance(d, Lose) and d.run_id == run_id]
        entry = self.state.entries["s1"]
        subject, event, _ = lost.item(entry, lose, lost.reason_for(self.state, entry, run_id))
        self.add(subject, at, event)

    def due(self, now: datetime) -> list[Any]:
        return decide_due(self.state.entries["s1"], now)

    def losses(self, now: datetime) -> list[str]:
        return [d.run_id for d in self.due(now) if isinstance(d, Lose)]


def test_a_fan_out_trigger_alone_puts_nothing_in_flight() -> None:
    # why: a member that never said a word (its executor offline at fire time) is not lost:
    # its trigger waits in that executor's durable consumer
    log = Log()
    assert log.state.entries["s1"].in_flight is None
    assert log.losses(T0 + timedelta(days=2)) == []


def test_a_started_member_is_lost_past_its_timeout_and_grace() -> None:
    log = Log()
    started = T0 + timedelta(minutes=5)  # its executor was late: the clock starts at its word
    log.word(RunStarted, PI2, started)
    deadline = started + TIMEOUT + LOST_GRACE
    assert log.losses(deadline - timedelta(microseconds=1)) == []
    assert log.due(deadline) == [Lose(PI2, FIRE, T0)]


def test_the_grace_is_a_setting_of_the_fold() -> None:
    log = Log(grace=timedelta(seconds=1))
    log.word(RunStarted, PI2, T0)
    assert log.losses(T0 + TIMEOUT) == []
    assert log.losses(T0 + TIMEOUT + timedelta(seconds=1)) == [PI2]


def test_the_lost_event_of_a_member_is_the_plain_runs_with_its_own_msg_id() -> None:
    log = Log()
    log.word(RunStarted, PI2, T0)
    [lose] = log.losses(T0 + TIMEOUT + LOST_GRACE)
    entry = log.state.entries["s1"]
    subject, event, msg_id = lost.item(entry, Lose(lose, FIRE, T0), "why")
    assert subject == subjects.run_by_scheduler("fan", PI2)
    assert msg_id == f"{PI2}:lost"
    assert isinstance(event, RunLost)
    assert (event.run_id, event.fire_id, event.fire_time) == (PI2, FIRE, T0)


def test_each_member_has_its_own_deadline_and_is_lost_once() -> None:
    log = Log()
    log.word(RunStarted, PI2, T0)
    log.word(RunStarted, PI3, T0 + timedelta(seconds=20))
    first = T0 + TIMEOUT + LOST_GRACE
    assert log.losses(first) == [PI2]
    log.lost(PI2, first)
    assert log.losses(first + timedelta(seconds=20)) == [PI3]
    log.lost(PI3, first + timedelta(seconds=20))
    assert log.state.entries["s1"].in_flight is None
    assert log.state.entries["s1"].fires is None
    assert log.losses(T0 + timedelta(days=1)) == []


def test_a_members_result_ends_it_and_a_late_one_does_not_bring_it_back() -> None:
    log = Log()
    log.word(RunStarted, PI2, T0)
    log.word(RunStarted, PI3, T0)
    log.word(RunSucceeded, PI3, T0 + timedelta(seconds=3))
    log.lost(PI2, T0 + TIMEOUT + LOST_GRACE)
    # why: its executor came back and stored the result it had; the run is final already
    log.word(RunSucceeded, PI2, T0 + timedelta(minutes=5))
    log.word(RunSucceeded, member_run_id(RUN, "pi4"), T0 + timedelta(minutes=5))
    assert log.state.entries["s1"].in_flight is None


def test_later_words_move_a_members_deadline_as_a_plain_runs() -> None:
    log = Log()
    log.word(RunDeferred, PI2, T0, reason="busy", next_attempt_at=T0 + timedelta(minutes=2))
    assert log.losses(T0 + TIMEOUT + LOST_GRACE) == []
    retry = T0 + timedelta(minutes=10)
    log.word(RunStarted, PI2, T0 + timedelta(minutes=2))
    log.word(RunFailed, PI2, T0 + timedelta(minutes=3), next_retry_at=retry)
    assert log.losses(retry + TIMEOUT + LOST_GRACE - timedelta(seconds=1)) == []
    assert log.losses(retry + TIMEOUT + LOST_GRACE) == [PI2]


def test_members_in_flight_block_no_overlap_policy() -> None:
    # why: several members run per fire; overlap was never applied to fan-outs
    log = Log(overlap="skip")
    now = T0 + timedelta(hours=1)
    log.word(RunStarted, PI2, now - timedelta(seconds=10))  # late, still within its deadline
    assert log.due(now) == [Trigger(now)]


def test_a_deleted_schedules_members_are_not_orphans() -> None:
    # why: a member in flight was taken by its executor; only untaken runs are cancelled
    log = Log()
    log.word(RunStarted, PI2, T0)
    log.add("jetcron.sched.fan", T0 + timedelta(seconds=5), ScheduleDeleted(
        schedule_id="s1", name="fan", version=2
    ))  # fmt: skip
    assert log.state.orphans == {}


def test_members_in_flight_survive_a_checkpoint() -> None:
    log = Log()
    log.word(RunStarted, PI2, T0)
    restored = state_from(snapshot_of(log.state))
    assert restored is not None
    assert decide_due(restored.entries["s1"], T0 + TIMEOUT + LOST_GRACE) == [Lose(PI2, FIRE, T0)]


def reason_of(log: Log, run_id: str, at: datetime) -> str:
    log.lost(run_id, at)
    [event] = [e for e in log.events if isinstance(e, RunLost) and e.run_id == run_id]
    return event.reason


def test_a_lost_members_reason_names_the_executor_that_went_silent() -> None:
    # why: not "executor presumed dead" with no name (newcomer20a #3)
    log = Log()
    log.word(RunStarted, PI2, T0)
    log.word(RunDeferred, PI3, T0, reason="busy")  # had it, never started it
    deadline = T0 + TIMEOUT + LOST_GRACE
    assert reason_of(log, PI2, deadline) == (
        "its executor pi2 stopped answering: no result within timeout + grace"
    )
    assert reason_of(log, PI3, deadline) == (
        "its executor pi3 stopped answering: no result within timeout + grace"
    )
