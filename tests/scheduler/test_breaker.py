"""The circuit breaker: pure fold, then against a real log."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from jetcron import subjects
from jetcron.domain.commands import CreateSchedule, PauseSchedule, ResumeSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import (
    RunFailed,
    RunSucceeded,
    RunTimedOut,
    ScheduleCreated,
    SchedulePaused,
)
from jetcron.log.stream import EventLog
from jetcron.scheduler.breaker import BreakerState, CircuitBreaker
from jetcron.scheduler.handler import CommandHandler

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
DEF = ScheduleDefinition(spec="@every 1m", job=Job(command=["false"]))


def failed(i: int, retry: bool = False) -> RunFailed:
    return RunFailed(
        schedule_id="s1",
        name="x",
        fire_id=f"f{i}",
        fire_time=T0,
        run_id=f"r{i}",
        next_retry_at=T0 if retry else None,
    )


def ok(i: int) -> RunSucceeded:
    return RunSucceeded(schedule_id="s1", name="x", fire_id=f"f{i}", fire_time=T0, run_id=f"r{i}")


def fold(*events: object, definition: ScheduleDefinition = DEF) -> tuple[BreakerState, list]:
    state = BreakerState()
    state.apply(ScheduleCreated(schedule_id="s1", name="x", version=1, definition=definition), T0)
    return state, [c for e in events if (c := state.apply(e, T0)) is not None]  # type: ignore[arg-type]


def test_three_final_failures_open_the_circuit() -> None:
    _, commands = fold(failed(1), failed(2), failed(3))
    [pause] = commands
    assert isinstance(pause, PauseSchedule) and pause.by_system and pause.actor == "system"
    assert pause.reason == "circuit open: 3 consecutive failures"


def test_retried_attempts_and_duplicates_do_not_count_and_success_resets() -> None:
    _, commands = fold(
        failed(1, retry=True), failed(1), failed(1), failed(2), ok(3), failed(4), failed(5)
    )
    assert commands == []


def test_timeouts_count_and_threshold_is_per_schedule() -> None:
    timeout = RunTimedOut(schedule_id="s1", name="x", fire_id="f9", fire_time=T0, run_id="r9")
    definition = ScheduleDefinition(
        spec="@every 1m", job=Job(command=["false"]), breaker_threshold=2
    )
    _, commands = fold(failed(1), timeout, definition=definition)
    assert len(commands) == 1
    _, none = fold(
        failed(1),
        failed(2),
        failed(3),
        definition=ScheduleDefinition(
            spec="@every 1m", job=Job(command=["false"]), breaker_threshold=0
        ),
    )
    assert none == []


def test_cooldown_resumes_only_system_pauses() -> None:
    definition = ScheduleDefinition(
        spec="@every 1m", job=Job(command=["false"]), breaker_cooldown_s=600
    )
    state, [pause] = fold(failed(1), failed(2), failed(3), definition=definition)
    state.apply(
        SchedulePaused(
            schedule_id="s1",
            name="x",
            version=2,
            reason=pause.reason,
            by_system=True,
            resume_at=pause.resume_at,
        ),
        T0,
    )
    assert state.due_resumes(T0 + timedelta(minutes=5)) == []
    [resume] = state.due_resumes(T0 + timedelta(minutes=11))
    assert isinstance(resume, ResumeSchedule) and resume.only_if_system_paused


async def test_breaker_pauses_through_the_log(nc, caplog) -> None:
    caplog.set_level(logging.INFO, logger="jetcron.scheduler.breaker")
    log = await EventLog(nc).open()
    handler = CommandHandler(log)
    [created] = await handler.handle(
        CreateSchedule(name="flaky", command_id="c", at=T0, actor="t", definition=DEF)
    )
    sid = created.event.schedule_id  # type: ignore[union-attr]
    for i in range(3):
        event = RunFailed(
            schedule_id=sid,
            name="flaky",
            fire_id=f"f{i}",
            fire_time=T0,
            run_id=f"r{i}",
            error="boom",
        )
        await log.publish(
            subjects.run("flaky", f"r{i}"),
            Envelope(id=f"e{i}", at=T0, actor="executor:x", event=event),
        )
    breaker = CircuitBreaker(log, handler)
    stop = asyncio.Event()
    task = asyncio.create_task(breaker.run(stop))
    for _ in range(100):
        history, _ = await log.load(subjects.schedule("flaky"))
        if len(history) == 2:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    paused = history[-1]
    assert isinstance(paused.event, SchedulePaused) and paused.event.by_system
    assert (
        paused.envelope.actor == "system"
        and paused.envelope.reason == "circuit open: 3 consecutive failures"
    )
    # a restart replays the same history: the decision is not taken, nor logged, again
    again = CircuitBreaker(log, handler)
    await again.apply_batch([s async for batch in log.read() for s in batch])
    said = [r.getMessage() for r in caplog.records if "by the breaker" in r.getMessage()]
    assert said == ["flaky paused by the breaker (circuit open: 3 consecutive failures)"]
    assert len((await log.load(subjects.schedule("flaky")))[0]) == 2
    await log.close()
