"""A run's `run.lost` and a restarted executor's claim race for the run: exactly one is stored.

An executor that comes back at a run's deadline (its job died with its supervisor, the trigger is
redelivered) claims the next attempt with `run.started` under a compare-and-set on the run's
subjects; the ticker declares the same run lost from what it has folded. Without a check of its
own, the ticker's `run.lost` could be stored just after that claim: the views then say `lost`
(the first end wins) while the job runs. Real nats-server, the executor's own claim (RunLog).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from jetcron.clock import FakeClock
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import RunLost, RunStarted, RunTriggered
from jetcron.executors.attempt import run_ref
from jetcron.executors.runlog import ExecutorStats, Run, RunLog
from jetcron.log.errors import ConcurrencyConflict
from jetcron.log.stream import EventLog
from jetcron.projections import runs, state
from jetcron.scheduler import firing
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.state import LOST_GRACE
from jetcron.scheduler.ticker import APPEND_RETRY, Ticker

T0 = datetime(2026, 3, 3, 12, 0, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=30)
FIRE = T0 + timedelta(hours=1)
DEADLINE = FIRE + TIMEOUT + LOST_GRACE
"""When a run started at its fire, with no word since, is lost."""
STEP = timedelta(seconds=1)
RACES = 40


async def events(log: EventLog) -> list[StoredEvent]:
    out: list[StoredEvent] = []
    async for batch in log.read():
        out += batch
    return out


async def started_runs(log: EventLog, clock: FakeClock, count: int) -> tuple[Ticker, list[Run]]:
    """`count` schedules on `pi` fire at FIRE; pi claims each (attempt 1, the i-th at FIRE + i
    STEPs); the ticker has read it."""
    handler = CommandHandler(log)
    for i in range(count):
        definition = ScheduleDefinition(
            spec="@every 1h", job=Job(command=["true"]), target="pi",
            timeout_s=TIMEOUT.total_seconds(),
        )  # fmt: skip
        await handler.handle(
            CreateSchedule(
                name=f"r{i}", command_id=f"c{i}", at=T0, actor="t", definition=definition
            )
        )
    ticker = Ticker(log, clock=clock)
    await ticker.catch_up()
    await clock.set(FIRE)
    await ticker.tick()
    triggers = [
        s.envelope.event for s in await events(log) if type(s.envelope.event) is RunTriggered
    ]
    assert len(triggers) == count
    runs_ = [Run(run_ref(t, "pi", fanout=False), t, "cause") for t in triggers]
    for i, run in enumerate(runs_):
        await clock.set(FIRE + i * STEP)  # why: one deadline a STEP, so a tick loses one run
        await claim(log, clock, run, attempt=1)
    await ticker.catch_up()
    return ticker, runs_


async def claim(log: EventLog, clock: FakeClock, run: Run, attempt: int) -> bool:
    """The executor's claim of an attempt (load the run, `run.started` under CAS); False if lost."""
    runlog = RunLog(log, log.nc, "pi", clock, ExecutorStats())
    history = await runlog.history(run)
    if history.finished:
        return False
    event = RunStarted(**run.ref.fields(attempt), pid=1, host_time=clock.now())
    try:
        await runlog.claim(run, event, attempt, history.last_seq)
    except ConcurrencyConflict:
        return False
    return True


def fates(stored: list[StoredEvent], run_ids: list[str]) -> dict[str, str]:
    """What the views say of each run, and how its events were stored (`started 2, lost`)."""
    views = state.replay(stored)
    out: dict[str, str] = {}
    for run_id in run_ids:
        kinds = [
            f"started {e.attempt}" if isinstance(e, RunStarted) else "lost"
            for s in stored
            if isinstance(e := s.envelope.event, RunStarted | RunLost) and e.run_id == run_id
        ]
        row = runs.get(views.runs, run_id)
        assert row is not None
        out[run_id] = f"{row.status}: {', '.join(kinds)}"
    return out


async def test_a_claim_stored_after_the_tickers_last_read_keeps_the_run(event_log) -> None:
    clock = FakeClock(T0)
    ticker, [run] = await started_runs(event_log, clock, 1)
    await clock.set(DEADLINE)
    # the executor comes back at the deadline: its claim of attempt 2 is stored before the
    # ticker has read it (the ticker's state is the one its decision rests on)
    assert await claim(event_log, clock, run, attempt=2)
    await ticker.tick()
    await ticker.catch_up()
    run_id = run.ref.run_id
    assert fates(await events(event_log), [run_id]) == {run_id: "running: started 1, started 2"}
    # re-decided from the new word: the new deadline holds, and past it the run is lost
    await clock.set(DEADLINE + timedelta(seconds=5))
    await ticker.tick()
    assert fates(await events(event_log), [run_id]) == {run_id: "running: started 1, started 2"}
    await clock.set(DEADLINE + TIMEOUT + LOST_GRACE)
    await ticker.tick()
    assert fates(await events(event_log), [run_id]) == {run_id: "lost: started 1, started 2, lost"}
    [lost] = [e for s in await events(event_log) if isinstance(e := s.envelope.event, RunLost)]
    assert lost.reason == "its executor pi stopped answering: no result within timeout + grace"


async def test_a_claim_stored_between_the_tickers_read_and_append_wins(
    event_log, monkeypatch, caplog
) -> None:
    clock = FakeClock(T0)
    ticker, [run] = await started_runs(event_log, clock, 1)
    await clock.set(DEADLINE)
    last_seq_on, claimed = event_log.last_seq_on, []

    async def read_then_claim(subject: str) -> int:
        read = await last_seq_on(subject)
        if not claimed:  # why: the executor's claim lands right after the ticker's first read
            claimed.append(await claim(event_log, clock, run, attempt=2))
        return read

    monkeypatch.setattr(event_log, "last_seq_on", read_then_claim)
    with caplog.at_level("INFO", logger="jetcron.scheduler.lost"):
        appended = await ticker.tick()
    assert claimed == [True]
    assert appended == 0
    assert "had a word since; deciding again" in caplog.text  # the conflict, read again
    await ticker.catch_up()
    run_id = run.ref.run_id
    assert fates(await events(event_log), [run_id]) == {run_id: "running: started 1, started 2"}


async def test_of_a_claim_and_a_lost_racing_exactly_one_is_stored(event_log) -> None:
    clock = FakeClock(T0)
    ticker, started = await started_runs(event_log, clock, RACES)
    rng = random.Random(7)
    won: list[bool] = []
    for i, run in enumerate(started):
        await clock.set(DEADLINE + i * STEP)  # why: this run is due to be lost, no other

        async def claim_after(delay: float, run: Run = run) -> bool:
            await asyncio.sleep(delay)
            return await claim(event_log, clock, run, attempt=2)

        async def tick_after(delay: float) -> None:
            await asyncio.sleep(delay)
            await ticker.tick()

        # why: either may go first, by up to a few ms (a read or two and a publish each)
        claimed, _ = await asyncio.gather(
            claim_after(rng.uniform(0, 0.004)), tick_after(rng.uniform(0, 0.02))
        )
        won.append(claimed)
        await ticker.catch_up()
    ids = [run.ref.run_id for run in started]
    seen = fates(await events(event_log), ids)
    print("race outcomes:", dict(Counter(seen.values())))  # noqa: T201 - quoted in the report
    for run_id, claimed in zip(ids, won, strict=True):
        # a run whose claim won runs: never lost as well; one whose claim lost is lost alone
        expected = "running: started 1, started 2" if claimed else "lost: started 1, lost"
        assert seen[run_id] == expected


async def test_a_tick_declares_a_bounded_share_and_the_next_the_rest(
    event_log, monkeypatch
) -> None:
    clock = FakeClock(T0)
    ticker, started = await started_runs(event_log, clock, 3)
    monkeypatch.setattr(firing, "LOSSES_PER_TICK", 2)
    await clock.set(DEADLINE + 2 * STEP)  # all three are overdue
    assert await ticker.tick() == 2
    await clock.set(clock.now() + APPEND_RETRY)
    assert await ticker.tick() == 1
    ids = [run.ref.run_id for run in started]
    assert set(fates(await events(event_log), ids).values()) == {"lost: started 1, lost"}
