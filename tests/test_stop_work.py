"""Delete, pause and `runs cancel` stop work: a real nats-server, the scheduler service and an executor.

- deleting a schedule cancels its running runs (the job is killed) and a trigger queued before the
  delete never starts;
- pausing leaves a running run alone but starts no clock trigger queued before the pause;
- `runs cancel` (the CancelRun command) stops a running job; a finished run cannot be cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from conftest import alive
from jetcron import ids, service, subjects
from jetcron.client import send_command
from jetcron.domain.commands import (
    AnyCommand,
    CancelRun,
    CreateSchedule,
    DeleteSchedule,
    PauseSchedule,
    TriggerSchedule,
)
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.errors import CommandRejected
from jetcron.domain.events import RunCancelled, RunTriggered
from jetcron.executors.agent import Executor, ExecutorConfig
from jetcron.log.stream import EventLog
from polling import until


def meta(name: str) -> dict[str, Any]:
    return {"name": name, "command_id": ids.new_id(), "at": datetime.now(UTC), "actor": "ops"}


def sleeper(name: str, witness: Path, spec: str = "@every 1h", seconds: int = 60) -> CreateSchedule:
    job = Job(shell=f"echo $$ >> {witness}; exec sleep {seconds}")
    definition = ScheduleDefinition(spec=spec, job=job, target="box")
    return CreateSchedule(**meta(name), definition=definition)


@pytest.fixture
async def stack(nc: Client) -> AsyncIterator[EventLog]:
    """The scheduler service (commands, ticker, projections) in this process."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(service.run(nc, stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 15)
    event_log = await EventLog(nc).open()
    yield event_log
    await event_log.close()
    stop.set()
    await asyncio.wait_for(task, 15)


@pytest.fixture
async def executor(nc: Client, tmp_path: Path) -> AsyncIterator[Any]:
    """Start an executor for target `box` on demand; stopped at the end."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    def start() -> None:
        config = ExecutorConfig(
            name="box", targets=["box"], allow_shell=True, ack_wait_s=5, kill_grace_s=0.3,
            drain_timeout_s=0.5, journal_dir=str(tmp_path / "journal"),
        )  # fmt: skip
        stop = asyncio.Event()
        running.append((stop, asyncio.create_task(Executor(nc, config).run(stop))))

    yield start
    for stop, task in running:
        stop.set()
        await asyncio.wait_for(task, 15)


async def send(nc: Client, command: AnyCommand) -> Any:
    return await send_command(nc, command)


async def run_events(event_log: EventLog, name: str, run_id: str) -> list[Any]:
    stored, _ = await event_log.load_run(name, run_id)
    return [s.event for s in stored]


async def manual_run(nc: Client, name: str) -> str:
    reply = await send(nc, TriggerSchedule(**meta(name)))
    trigger = reply.events[0].envelope.event
    assert isinstance(trigger, RunTriggered)
    return trigger.run_id


async def started_pid(witness: Path) -> int:
    async def written() -> bool:
        return witness.exists() and bool(witness.read_text().strip())

    await until(written)
    return int(witness.read_text().split()[0])


async def test_delete_cancels_a_running_run_and_kills_its_job(
    nc: Client, stack: EventLog, executor: Any, tmp_path: Path
) -> None:
    witness = tmp_path / "w"
    await send(nc, sleeper("long", witness))
    executor()
    run_id = await manual_run(nc, "long")
    pid = await started_pid(witness)
    await send(nc, DeleteSchedule(**meta("long")))

    async def cancelled() -> bool:
        return any(isinstance(e, RunCancelled) for e in await run_events(stack, "long", run_id))

    await until(cancelled)
    final = (await run_events(stack, "long", run_id))[-1]
    assert isinstance(final, RunCancelled) and "schedule deleted" in final.reason
    await until(lambda: not alive(pid), 5)


async def test_a_trigger_queued_before_a_delete_never_starts(
    nc: Client, stack: EventLog, executor: Any, tmp_path: Path
) -> None:
    witness = tmp_path / "w"
    await send(nc, sleeper("queued", witness, seconds=1))
    run_id = await manual_run(nc, "queued")  # no executor yet: the trigger waits in its consumer
    await send(nc, DeleteSchedule(**meta("queued")))
    executor()

    async def settled() -> bool:
        return any(isinstance(e, RunCancelled) for e in await run_events(stack, "queued", run_id))

    await until(settled)
    kinds = [type(e).__name__ for e in await run_events(stack, "queued", run_id)]
    assert kinds == ["RunCancelled"]
    assert not witness.exists(), "the job must never have started"


async def test_pause_stops_queued_clock_triggers_but_not_a_manual_run(
    nc: Client, stack: EventLog, executor: Any, tmp_path: Path
) -> None:
    witness = tmp_path / "w"
    await send(nc, sleeper("ticking", witness, spec="@every 1s", seconds=0))
    clock_runs: list[str] = []

    async def triggered() -> bool:
        async for batch in stack.read(subjects=[subjects.trigger("box")]):
            clock_runs[:] = [s.envelope.event.run_id for s in batch if not s.envelope.event.manual]  # type: ignore[union-attr]
        return bool(clock_runs)

    await until(triggered)
    await send(nc, PauseSchedule(**meta("ticking")))
    manual = await manual_run(nc, "ticking")
    executor()

    async def settled() -> bool:
        runs = [*clock_runs, manual]
        finals = [await run_events(stack, "ticking", r) for r in runs]
        return all(f and type(f[-1]).__name__ in ("RunCancelled", "RunSucceeded") for f in finals)

    await until(settled, 20)
    for run_id in clock_runs:
        [event] = await run_events(stack, "ticking", run_id)
        assert isinstance(event, RunCancelled) and "paused" in event.reason
    assert [type(e).__name__ for e in await run_events(stack, "ticking", manual)] == [
        "RunStarted",
        "RunSucceeded",
    ]


async def test_runs_cancel_stops_a_running_job_and_refuses_a_finished_run(
    nc: Client, stack: EventLog, executor: Any, tmp_path: Path
) -> None:
    witness = tmp_path / "w"
    await send(nc, sleeper("stoppable", witness))
    executor()
    run_id = await manual_run(nc, "stoppable")
    pid = await started_pid(witness)
    await send(nc, CancelRun(**meta("stoppable"), run_id=run_id, reason="wrong day"))

    async def cancelled() -> bool:
        events = await run_events(stack, "stoppable", run_id)
        return isinstance(events[-1], RunCancelled)

    await until(cancelled)
    final = (await run_events(stack, "stoppable", run_id))[-1]
    assert "wrong day" in final.reason
    await until(lambda: not alive(pid), 5)
    with pytest.raises(CommandRejected, match="already ended"):
        await send(nc, CancelRun(**meta("stoppable"), run_id=run_id))


async def test_runs_cancel_ends_a_run_waiting_for_its_retry_at_once(
    nc: Client, stack: EventLog, executor: Any, tmp_path: Path
) -> None:
    from jetcron.domain.definition import RetryPolicy
    from jetcron.domain.events import RunFailed

    witness = tmp_path / "w"
    job = Job(shell=f"echo tried >> {witness}; exit 1")
    retry = RetryPolicy(max_attempts=3, initial_backoff_s=4.0)
    definition = ScheduleDefinition(spec="@every 1h", job=job, target="box", retry=retry)
    await send(nc, CreateSchedule(**meta("flaky"), definition=definition))
    executor()
    run_id = await manual_run(nc, "flaky")

    async def retrying() -> bool:
        events = await run_events(stack, "flaky", run_id)
        return bool(events) and isinstance(events[-1], RunFailed)

    await until(retrying)
    await send(nc, CancelRun(**meta("flaky"), run_id=run_id, reason="enough"))
    final = (await run_events(stack, "flaky", run_id))[-1]
    await asyncio.sleep(5)  # why: past the backoff: the redelivered trigger must not run again

    assert isinstance(final, RunCancelled) and final.reason == "cancel requested: enough"
    assert witness.read_text().split() == ["tried"]
    assert [type(e).__name__ for e in await run_events(stack, "flaky", run_id)][
        -1
    ] == "RunCancelled"
