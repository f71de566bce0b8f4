"""Ticker and breaker checkpoints: a crash between a fold and its checkpoint (the state after
the checkpoint is lost with the process) loses nothing and doubles nothing after a restart."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from test_ticker import T0, add, burst, events

from jetcron import subjects
from jetcron.clock import FakeClock
from jetcron.domain.claims import Claims
from jetcron.domain.commands import PauseSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import RunFailed, RunSucceeded, ScheduleCreated
from jetcron.scheduler import breaker as breakers
from jetcron.scheduler.checkpoint import snapshot_of, state_from
from jetcron.scheduler.state import TickerState
from jetcron.scheduler.ticker import Ticker


async def test_a_ticker_restored_from_its_checkpoint_folds_the_tail_once(event_log) -> None:
    await add(event_log, "a")
    await add(event_log, "b", spec="*/5 * * * *")
    clock = FakeClock(T0)
    live = Ticker(event_log, clock=clock)
    await live.catch_up()
    await burst(live, clock, T0 + timedelta(minutes=20))  # triggers, all still in flight
    stored = await events(event_log)
    run = next(s.envelope.event for s in stored if s.subject.startswith("jetcron.trigger."))
    done = RunSucceeded(
        schedule_id=run.schedule_id, name=run.name, fire_id=run.fire_id,
        fire_time=run.fire_time, run_id=run.run_id, executor="h",
    )  # fmt: skip
    await event_log.publish(
        subjects.run(run.name, run.run_id), Envelope(id="done-1", at=T0, actor="h", event=done)
    )
    stored = await events(event_log)
    half = len(stored) // 2

    crashed = Ticker(event_log, clock=clock, snapshot_every=1)
    await crashed.take(stored[:half])  # folded, and checkpointed (every event)
    crashed.fold.cadence = None
    await crashed.take(stored[half:])  # folded after the checkpoint: lost with the crash
    del crashed

    restarted = Ticker(event_log, clock=clock)
    await restarted.restore()
    assert restarted.position == stored[half - 1].seq
    await restarted.catch_up()
    fresh = Ticker(event_log, clock=clock)
    await fresh.catch_up()
    assert snapshot_of(restarted.state) == snapshot_of(fresh.state)
    # the same next due time for every schedule
    assert restarted.fold.queue.live() == fresh.fold.queue.live()
    triggered = Counter(
        s.envelope.event.name for s in stored if s.subject.startswith("jetcron.trigger.")
    )
    assert (
        {e.name: e.runs for e in restarted.state.entries.values()} == triggered == {"a": 20, "b": 4}
    )


def _stored(seq: int, event: object) -> StoredEvent:
    return StoredEvent(
        seq,
        "jetcron.x",
        Envelope(id=f"e{seq}", at=T0 + timedelta(minutes=seq), actor="t", event=event),
    )  # type: ignore[arg-type]


def _history() -> list[StoredEvent]:
    definition = ScheduleDefinition(
        spec="@every 1m", job=Job(command=["false"]), breaker_threshold=3
    )
    events = [ScheduleCreated(schedule_id="s1", name="x", version=1, definition=definition)]
    for i in range(12):
        common = {
            "schedule_id": "s1",
            "name": "x",
            "fire_id": f"f{i}",
            "fire_time": T0,
            "run_id": f"r{i}",
        }
        events.append(RunSucceeded(**common) if i == 4 else RunFailed(**common))  # type: ignore[arg-type]
    return [_stored(seq, e) for seq, e in enumerate(events, start=1)]


@pytest.mark.parametrize("cut", [1, 3, 5, 6, 8, 13])
def test_a_breaker_restored_from_its_checkpoint_decides_each_pause_once(cut: int) -> None:
    history = _history()
    fresh = breakers.CircuitBreaker.__new__(breakers.CircuitBreaker)
    fresh.state, fresh.position, fresh.claims = breakers.BreakerState(), 0, Claims()
    everything = fresh.fold(history)

    before = breakers.CircuitBreaker.__new__(breakers.CircuitBreaker)
    before.state, before.position, before.claims = breakers.BreakerState(), 0, Claims()
    decided = before.fold(history[:cut])
    data = breakers.snapshot_of(before.state, before.position, before.claims)
    before.fold(history[cut:])  # lost with the crash

    restored = breakers.state_from(data)
    assert restored is not None
    after = breakers.CircuitBreaker.__new__(breakers.CircuitBreaker)
    after.state, after.position, after.claims = restored
    decided += after.fold(history)  # the reader starts at 1 here: what it holds is skipped
    assert decided == everything
    # no pause lands in this history, so every failure from the 3rd of a streak asks again
    assert all(isinstance(c, PauseSchedule) for c in decided)
    assert [c.reason for c in decided] == [
        f"circuit open: {n} consecutive failures" for n in (3, 4, 3, 4, 5, 6, 7)
    ]
    assert breakers.snapshot_of(after.state, after.position, after.claims) == breakers.snapshot_of(
        fresh.state, fresh.position, fresh.claims
    )


def test_the_breaker_forgets_a_streak_once_a_run_succeeds() -> None:
    state = breakers.BreakerState()
    for s in _history():
        state.apply(s.envelope.event, s.envelope.at)
    tracked = state.schedules["s1"]
    assert list(tracked.counted) == [f"r{i}" for i in range(5, 12)]  # r0-r3 went with r4's success
    assert tracked.failures == 7
    assert datetime(2026, 1, 1, tzinfo=UTC) < T0


def test_a_checkpoint_round_trips_with_nothing_queued_and_a_version_1_one_is_ignored() -> None:
    state = TickerState()
    for seq in (1, 2):
        definition = ScheduleDefinition(spec="@every 1m", job=Job(command=["true"]))
        created = ScheduleCreated(
            schedule_id=f"s{seq}", name=f"x{seq}", version=1, definition=definition
        )
        state.apply(_stored(seq, created))
    state.advance(2)
    state.entries["s1"].queued = T0  # the ticker's bookkeeping at the time of the checkpoint
    data = snapshot_of(state)
    restored = state_from(data)
    assert restored is not None and restored.position == 2
    assert [e.queued for e in restored.entries.values()] == [None, None]  # queued afresh
    assert restored.entries["s2"].definition == state.entries["s2"].definition
    assert state_from(b"JCT\x00\x01" + data[5:]) is None  # the old map format: fold from seq 1
    assert state_from(b"JCT\x00\x02" + data[5:]) is None  # no members in flight: fold again
    assert state_from(b"JCT\x00\x03" + data[5:]) is None  # no deleted runs in flight: again


def test_every_event_that_makes_changes_an_entry_moves_the_change_count() -> None:
    # why: a burst planned ahead is sent without looking at its entries while this stands still
    state = TickerState()
    created = _history()[0]
    counts = []
    for seq, stored in enumerate([created, created, *_history()[1:3]], start=1):
        state.apply(StoredEvent(seq, stored.subject, stored.envelope))
        counts.append(state.changes)
    assert counts == [1, 2, 3, 4], "a creation (even of an id it has), and each run event"
