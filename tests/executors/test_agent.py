"""The executor agent against a real nats-server and real subprocesses."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import psutil
import pytest
from nats.aio.client import Client

from jetcron import ids, subjects
from jetcron.domain.definition import Conditions, Job, RetryPolicy
from jetcron.domain.envelope import AnyEvent, Envelope
from jetcron.domain.events import (
    RunCancelled,
    RunDeferred,
    RunFailed,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunTriggered,
)
from jetcron.executors.agent import Executor, ExecutorConfig
from jetcron.executors.config import validate
from jetcron.executors.consumers import Binding, bindings, consumer_config
from jetcron.executors.intake import Slots
from jetcron.log.heartbeats import list_executors
from jetcron.log.stream import EventLog
from polling import until

SRC = Path(__file__).resolve().parents[2] / "src"
FIRE = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
ACK_WAIT = 2.0


def config(name: str = "host-a", **options: Any) -> ExecutorConfig:
    """A config with short timings for tests."""
    base: dict[str, Any] = {
        "name": name,
        "targets": [name, "default"],
        "ack_wait_s": ACK_WAIT,
        "heartbeat_s": 1.0,
        "kill_grace_s": 0.3,
        "drain_timeout_s": 0.3,
        "defer_base_s": 0.1,
    }
    return msgspec.convert(base | options, ExecutorConfig)


def trigger(job: Job, *, target: str = "default", name: str = "job", **fields: Any) -> RunTriggered:
    """A trigger with a fresh run id."""
    fire_id = f"{name}:v1:{ids.new_id()}"
    defaults: dict[str, Any] = {"timeout_s": 20.0}
    return RunTriggered(
        schedule_id=f"sid-{name}",
        name=name,
        fire_id=fire_id,
        fire_time=FIRE,
        run_id=ids.run_id_for(fire_id),
        version=1,
        target=target,
        job=job,
        **(defaults | fields),
    )


def sh(script: str, **fields: Any) -> Job:
    return Job(command=["sh", "-c", script], **fields)


async def publish(event_log: EventLog, *triggers: RunTriggered) -> None:
    for t in triggers:
        envelope = Envelope(id=ids.new_id(), at=datetime.now(UTC), actor="test", event=t)
        await event_log.publish(subjects.trigger(t.target), envelope, msg_id=t.fire_id)


async def events(event_log: EventLog, t: RunTriggered, run_id: str | None = None) -> list[Any]:
    stored, _ = await event_log.load_run(t.name, run_id or t.run_id)
    return [s.event for s in stored]


def kinds(evs: list[AnyEvent]) -> list[str]:
    return [type(e).__name__ for e in evs]


async def burst(
    nc: Client, t: RunTriggered, event_log: EventLog, budget: float = 10, **options: Any
) -> list[AnyEvent]:
    """Publish one trigger, run one executor in burst mode, return the run's events."""
    await publish(event_log, t)
    await Executor(nc, config(**options)).run_burst(budget)
    return await events(event_log, t)


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


# -- pure --------------------------------------------------------------------------------------


def test_bindings_pool_per_target_and_tag_and_fanout_per_tag() -> None:
    assert bindings("reef.pi", ["reef.pi", "default"], ["lights", "default"]) == [
        Binding("pool-reef~pi", "jetcron.trigger.reef~pi"),
        Binding("pool-default", "jetcron.trigger.default"),
        Binding("pool-lights", "jetcron.trigger.lights"),
        Binding("fan-reef~pi-lights", "jetcron.trigger.all:lights", fanout=True),
        Binding("fan-reef~pi-default", "jetcron.trigger.all:default", fanout=True),
    ]


def test_consumer_config_starts_an_hour_back_and_never_gives_up() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    binding = Binding("pool-x", "jetcron.trigger.x")
    cc = consumer_config(binding, ack_wait=30.0, concurrency=4, now=now)
    assert cc.opt_start_time == datetime(2026, 1, 1, 11, tzinfo=UTC)
    assert (cc.durable_name, cc.filter_subject, cc.max_deliver) == ("pool-x", binding.subject, -1)
    assert cc.ack_wait == 30.0 and cc.max_ack_pending is not None and cc.max_ack_pending >= 16


async def test_slots_bound_what_is_taken() -> None:
    slots = Slots(3)
    assert await slots.take(2) == 2 and await slots.take(2) == 1
    waiter = asyncio.create_task(slots.take(2))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    slots.give(1)
    assert await waiter == 1
    slots.close()
    assert await slots.take(1) == 0


def test_for_host_defaults_to_hostname_and_default_pool() -> None:
    c = ExecutorConfig.for_host("pi", tags=["lights"], concurrency=2)
    assert (c.name, c.targets, c.tags, c.concurrency) == ("pi", ["pi", "default"], ["lights"], 2)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"tags": ["x y"]}, "invalid executor tag 'x y'"),
        ({"name": "a*"}, "invalid executor name"),
        ({"targets": ["all:lights"]}, "join fan-out groups with tags"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
    ],
)
def test_invalid_configs_are_rejected(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        validate(msgspec.structs.replace(config("a"), **changes))


# -- outcomes ----------------------------------------------------------------------------------


async def test_success_records_started_then_succeeded(nc: Client, event_log: EventLog) -> None:
    t = trigger(Job(command=["echo", "hello"]))
    evs = await burst(nc, t, event_log)
    assert kinds(evs) == ["RunStarted", "RunSucceeded"]
    started, done = evs
    assert isinstance(started, RunStarted) and isinstance(done, RunSucceeded)
    assert (started.executor, started.attempt, started.pid is not None) == ("host-a", 1, True)
    assert (done.exit_code, done.output.stdout, done.fire_id) == (0, "hello\n", t.fire_id)
    [first, second] = (await event_log.load_run(t.name, t.run_id))[0]
    assert first.envelope.actor == "executor:host-a"
    assert second.envelope.correlation_id == t.run_id and second.envelope.causation_id


async def test_nonzero_exit_is_a_failure_with_stderr(nc: Client, event_log: EventLog) -> None:
    evs = await burst(nc, trigger(sh("echo broken >&2; exit 3")), event_log)
    failed = evs[-1]
    assert isinstance(failed, RunFailed)
    assert (failed.exit_code, failed.failure_class, failed.next_retry_at) == (3, "transient", None)
    assert failed.error == "exited with code 3: broken" and failed.output.stderr == "broken\n"


async def test_timeout_kills_a_term_ignoring_tree(nc: Client, event_log: EventLog) -> None:
    script = "trap '' TERM; sleep 100 & echo $!; sleep 100"
    t0 = time.monotonic()
    evs = await burst(nc, trigger(sh(script), timeout_s=0.5), event_log)
    timed_out = evs[-1]
    assert isinstance(timed_out, RunTimedOut) and timed_out.next_retry_at is None
    assert timed_out.timeout_s == 0.5
    assert time.monotonic() - t0 < 5
    assert all(gone(int(pid)) for pid in timed_out.output.stdout.split())


async def test_output_cap_truncates(nc: Client, event_log: EventLog) -> None:
    evs = await burst(
        nc, trigger(sh("head -c 5000 /dev/zero | tr '\\0' x")), event_log, output_cap=100
    )
    done = evs[-1]
    assert isinstance(done, RunSucceeded)
    assert done.output.stdout == "x" * 100 and done.output.stdout_truncated
    assert done.output.stdout_size == 5000  # why: the marker can say how much was cut


async def test_env_has_the_run_variables(nc: Client, event_log: EventLog) -> None:
    t = trigger(
        sh('echo "$JETCRON_RUN_ID $JETCRON_SCHEDULE $JETCRON_FIRE_TIME $JETCRON_ATTEMPT $SECRET"')
    )
    os.environ["SECRET"] = "leak"
    try:
        evs = await burst(nc, t, event_log)
    finally:
        del os.environ["SECRET"]
    done = evs[-1]
    assert isinstance(done, RunSucceeded)
    assert done.output.stdout == f"{t.run_id} job 2026-03-29T01:30:00Z 1 \n"


async def test_executable_not_allowed_is_permanent_and_not_retried(
    nc: Client, event_log: EventLog
) -> None:
    t = trigger(
        Job(command=["cat", "/etc/hostname"]),
        retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.1),
    )
    evs = await burst(nc, t, event_log, allow=["echo"])
    assert kinds(evs) == ["RunFailed"]
    failed = evs[0]
    assert isinstance(failed, RunFailed)
    assert (failed.failure_class, failed.next_retry_at) == ("permanent", None)
    assert "not in this executor's allowlist" in failed.error


async def test_cwd_outside_work_dir_is_permanent(
    nc: Client, event_log: EventLog, tmp_path: Path
) -> None:
    (tmp_path / "jobs").mkdir()
    t = trigger(Job(command=["pwd"], cwd="../.."))
    evs = await burst(nc, t, event_log, work_dir=str(tmp_path / "jobs"))
    failed = evs[-1]
    assert isinstance(failed, RunFailed) and failed.failure_class == "permanent"
    assert "outside the executor's --work-dir" in failed.error


async def test_command_not_found_is_permanent_and_not_retried(
    nc: Client, event_log: EventLog
) -> None:
    t = trigger(
        Job(command=["/nonexistent/tool"]), retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.1)
    )
    evs = await burst(nc, t, event_log)
    # why: the attempt is claimed (RunStarted) before its supervisor execs the command
    assert kinds(evs) == ["RunStarted", "RunFailed"]
    failed = evs[-1]
    assert isinstance(failed, RunFailed) and (failed.exit_code, failed.failure_class) == (
        127,
        "permanent",
    )


async def test_retry_with_backoff_then_success(nc: Client, event_log: EventLog) -> None:
    t = trigger(
        sh('test "$JETCRON_ATTEMPT" -ge 2'),
        retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.4),
    )
    await publish(event_log, t)
    executor = Executor(nc, config())
    assert await executor.run_burst(10) == 2
    stored, _ = await event_log.load_run(t.name, t.run_id)
    assert kinds([s.event for s in stored]) == [
        "RunStarted",
        "RunFailed",
        "RunStarted",
        "RunSucceeded",
    ]
    failed, retried = stored[1], stored[2]
    assert isinstance(failed.event, RunFailed) and failed.event.next_retry_at is not None
    assert isinstance(retried.event, RunStarted) and retried.event.attempt == 2
    assert (retried.envelope.at - failed.envelope.at).total_seconds() >= 0.35
    assert (executor.stats.retried, executor.stats.succeeded, executor.stats.started) == (1, 1, 2)


async def test_retries_stop_at_max_attempts(nc: Client, event_log: EventLog) -> None:
    t = trigger(sh("exit 1"), retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.1))
    evs = await burst(nc, t, event_log)
    assert kinds(evs) == ["RunStarted", "RunFailed", "RunStarted", "RunFailed"]
    last = evs[-1]
    assert isinstance(last, RunFailed) and last.attempt == 2 and last.next_retry_at is None


async def test_action_job_records_its_result(nc: Client, event_log: EventLog) -> None:
    t = trigger(Job(action="log", params={"message": "lights on"}))
    evs = await burst(nc, t, event_log)
    assert kinds(evs) == ["RunStarted", "RunSucceeded"]
    started, done = evs
    assert isinstance(started, RunStarted) and started.pid is None
    assert isinstance(done, RunSucceeded) and done.result == "lights on"


async def test_unknown_action_is_permanent(nc: Client, event_log: EventLog) -> None:
    evs = await burst(nc, trigger(Job(action="warp_drive")), event_log)
    failed = evs[-1]
    assert isinstance(failed, RunFailed) and failed.failure_class == "permanent"
    assert "unknown action 'warp_drive' (installed: " in failed.error


# -- admission ---------------------------------------------------------------------------------


async def test_deferred_under_pressure_then_cancelled_when_expired(
    nc: Client, event_log: EventLog
) -> None:
    conditions = Conditions(max_memory_percent=0, max_defer_s=0.6, on_expire="skip")
    t = trigger(Job(command=["true"]), conditions=conditions)
    await publish(event_log, t)
    executor = Executor(nc, config())
    await executor.run_burst(10)
    evs = await events(event_log, t)
    assert set(kinds(evs[:-1])) == {"RunDeferred"} and len(evs) >= 2
    first, cancelled = evs[0], evs[-1]
    assert isinstance(first, RunDeferred) and first.deferrals == 1 and 0 < first.pressure <= 1
    assert "memory" in first.reason and first.next_attempt_at is not None
    assert isinstance(cancelled, RunCancelled) and cancelled.reason.startswith("deferred too long")
    assert executor.stats.deferred == len(evs) - 1 and executor.stats.started == 0


async def test_expired_deferral_with_force_runs_anyway(nc: Client, event_log: EventLog) -> None:
    conditions = Conditions(max_memory_percent=0, max_defer_s=0.3, on_expire="force")
    evs = await burst(nc, trigger(Job(command=["true"]), conditions=conditions), event_log)
    assert kinds(evs)[-2:] == ["RunStarted", "RunSucceeded"] and kinds(evs)[0] == "RunDeferred"


# -- crash safety, pools, fan-out --------------------------------------------------------------


async def test_redelivered_trigger_of_a_finished_run_is_acked_without_running(
    nc: Client, event_log: EventLog
) -> None:
    t = trigger(Job(command=["true"]))
    done = RunSucceeded(
        schedule_id=t.schedule_id, name=t.name, fire_id=t.fire_id, fire_time=FIRE, run_id=t.run_id
    )
    envelope = Envelope(id=ids.new_id(), at=datetime.now(UTC), actor="test", event=done)
    await event_log.publish(subjects.run(t.name, t.run_id), envelope)
    await publish(event_log, t)
    executor = Executor(nc, config())
    assert await executor.run_burst(5) == 1
    assert kinds(await events(event_log, t)) == ["RunSucceeded"]
    assert (executor.stats.duplicates, executor.stats.started) == (1, 0)


async def test_poison_message_is_terminated(nc: Client, event_log: EventLog) -> None:
    await nc.jetstream().publish(subjects.trigger("default"), b"not json")
    t = trigger(Job(command=["true"]))
    await publish(event_log, t)
    executor = Executor(nc, config())
    assert await executor.run_burst(5) == 2
    assert executor.stats.poison == 1 and kinds(await events(event_log, t)) == [
        "RunStarted",
        "RunSucceeded",
    ]


async def test_pool_runs_each_trigger_once(nc: Client, event_log: EventLog) -> None:
    ts = [trigger(sh("sleep 0.1"), target="workers") for _ in range(10)]
    await publish(event_log, *ts)
    a = Executor(nc, config("a", targets=["workers"], concurrency=3))
    b = Executor(nc, config("b", targets=["workers"], concurrency=3))
    handled = await asyncio.gather(a.run_burst(15), b.run_burst(15))
    assert sum(handled) == 10
    for t in ts:
        assert kinds(await events(event_log, t)) == ["RunStarted", "RunSucceeded"]
    assert a.stats.succeeded + b.stats.succeeded == 10


async def test_fanout_runs_on_every_member(nc: Client, event_log: EventLog) -> None:
    t = trigger(Job(command=["true"]), target="all:lights")
    a = Executor(nc, config("a", tags=["lights"]))
    b = Executor(nc, config("b", tags=["lights"]))
    c = Executor(nc, config("c", tags=["pumps"]))
    await publish(event_log, t)
    await asyncio.gather(a.run_burst(10), b.run_burst(10), c.run_burst(2))
    for member in ("a", "b"):
        evs = await events(event_log, t, f"{t.run_id}-{member}")
        assert kinds(evs) == ["RunStarted", "RunSucceeded"]
        assert evs[0].executor == member and evs[0].run_id == f"{t.run_id}-{member}"
    assert c.stats.handled == 0


# -- cancel and shutdown -----------------------------------------------------------------------


async def test_cancel_request_stops_a_running_command(nc: Client, event_log: EventLog) -> None:
    t = trigger(Job(command=["sleep", "30"]))
    await publish(event_log, t)
    executor = Executor(nc, config())
    task = asyncio.create_task(executor.run_burst(15))

    async def started() -> bool:
        return "RunStarted" in kinds(await events(event_log, t))

    await until(started)
    await nc.publish(f"jetcron.cancel.{t.run_id}", b"overlap")
    await task
    evs = await events(event_log, t)
    cancelled = evs[-1]
    assert isinstance(cancelled, RunCancelled) and cancelled.reason == "cancel requested: overlap"
    assert executor.stats.cancelled == 1


async def test_cancel_request_stops_a_sleep_action(nc: Client, event_log: EventLog) -> None:
    t = trigger(Job(action="sleep", params={"seconds": 30}))
    await publish(event_log, t)
    executor = Executor(nc, config())
    task = asyncio.create_task(executor.run_burst(15))
    await until(lambda: _has(executor.running, t.run_id))
    await nc.publish(f"jetcron.cancel.{t.run_id}", b"")
    t0 = time.monotonic()
    await task
    assert time.monotonic() - t0 < 3
    assert kinds(await events(event_log, t))[-1] == "RunCancelled"


async def _has(items: list[str], item: str) -> bool:
    return item in items


async def test_shutdown_hands_back_a_long_run_and_another_executor_runs_it(
    nc: Client, event_log: EventLog
) -> None:
    t = trigger(sh('[ "$JETCRON_ATTEMPT" = 1 ] && sleep 30; exit 0'), target="workers")
    await publish(event_log, t)
    first = Executor(nc, config("first", targets=["workers"]))
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await until(lambda: _has(first.running, t.run_id))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert first.stats.handed_back == 1
    assert kinds(await events(event_log, t)) == ["RunStarted"]

    second = Executor(nc, config("second", targets=["workers"]))
    # why: a freshly started peer first waits until its own heartbeats are steady (1.5 beats)
    # before it trusts that no one else still holds a started run: a nak or two, then the run.
    assert await second.run_burst(8) >= 1
    evs = await events(event_log, t)
    assert kinds(evs) == ["RunStarted", "RunStarted", "RunSucceeded"]
    assert evs[-1].executor == "second" and evs[-1].attempt == 2


KILLABLE = """
import asyncio, sys, nats
from jetcron.executors.agent import Executor, ExecutorConfig

async def main():
    nc = await nats.connect(sys.argv[1])
    # why: a pool peer waits while the holder's heartbeat is fresh (1.5 intervals)
    config = ExecutorConfig(
        name="victim", targets=["kpool"], ack_wait_s=float(sys.argv[2]), heartbeat_s=0.5
    )
    await Executor(nc, config).run(asyncio.Event())

asyncio.run(main())
"""


async def test_killed_executor_run_is_completed_by_another(
    nc: Client, event_log: EventLog, nats_url: str
) -> None:
    t = trigger(Job(command=["sleep", "1"]), target="kpool")
    await publish(event_log, t)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    victim = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLABLE, nats_url, str(ACK_WAIT), env=env
    )
    try:

        async def started() -> bool:
            return "RunStarted" in kinds(await events(event_log, t))

        await until(started, 15)
        victim.send_signal(signal.SIGKILL)
        await asyncio.wait_for(victim.wait(), 5)
        survivor = Executor(nc, config("survivor", targets=["kpool"]))
        # why: the survivor first holds off until the victim's job can no longer be running
        # (its supervisor stops it within the orphan window): a few naks, then the run
        assert await survivor.run_burst(15) >= 1
    finally:
        if victim.returncode is None:
            victim.kill()
            await victim.wait()
    evs = await events(event_log, t)
    assert kinds(evs) == ["RunStarted", "RunStarted", "RunSucceeded"]
    assert [e.executor for e in evs] == ["victim", "survivor", "survivor"]
    assert sum(isinstance(e, RunSucceeded) for e in evs) == 1


# -- heartbeat ---------------------------------------------------------------------------------


async def test_heartbeat_listed_while_running_and_gone_after_stop(
    nc: Client, event_log: EventLog
) -> None:
    executor = Executor(nc, config("pi", tags=["lights"]))
    stop = asyncio.Event()
    task = asyncio.create_task(executor.run(stop))

    async def listed() -> bool:
        infos = await list_executors(nc)
        return bool(infos) and infos[0].clock_offset_s is not None

    await until(listed)
    [info] = await list_executors(nc)
    assert (info.name, info.targets, info.tags, info.pid) == (
        "pi",
        ["pi", "default"],
        ["lights"],
        os.getpid(),
    )
    assert info.seen_at is not None and info.host_time is not None and info.memory_percent
    assert info.clock_error_s is not None and abs(info.clock_offset_s or 0) < 1
    stop.set()
    await task
    assert await list_executors(nc) == []
