"""A run held by an executor whose heartbeat expired reads `running?` with since when, in every
answer (newcomer19b F3), and health says the executor is offline since its heartbeat expiry,
apart from the run's start (F4). Against a real nats-server and the real projection service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from test_service_live import running

from jetcron import ids, subjects
from jetcron.client import query
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import RunStarted, RunTriggered
from jetcron.log import heartbeats
from jetcron.scheduler.handler import CommandHandler

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def _envelope(event: object, actor: str) -> Envelope:
    return Envelope(id=ids.new_id(), at=datetime.now(UTC), actor=actor, event=event)  # type: ignore[arg-type]


async def _start_run(event_log, executor: str) -> str:
    """Trigger a run of `k1` on `executor`'s host and start it there; its run id."""
    sid = (await query(event_log.nc, "schedule", {"name": "k1"}))["schedule_id"]
    fire_id = f"{sid}:manual:{ids.new_id()}"
    base = {"schedule_id": sid, "name": "k1", "fire_id": fire_id, "fire_time": datetime.now(UTC)}
    run_id = ids.run_id_for(fire_id)
    trigger = RunTriggered(
        **base, run_id=run_id, version=1, target=executor, job=Job(command=["true"])
    )
    await event_log.append(subjects.trigger(executor), [_envelope(trigger, "alice")])
    started = RunStarted(**base, run_id=run_id, executor=executor)
    subject = subjects.run_by("k1", run_id, executor, executor)
    await event_log.append(subject, [_envelope(started, f"executor:{executor}")])
    return run_id


async def test_a_run_whose_executor_went_offline_reads_running_with_a_question_mark(
    nc, event_log
) -> None:
    d = ScheduleDefinition(spec="@every 1h", job=Job(command=["true"]), target="ex1")
    await CommandHandler(event_log).handle(
        CreateSchedule(name="k1", command_id="c1", at=T0, actor="al", definition=d)
    )
    await heartbeats.ensure_bucket(nc)
    await heartbeats.put(nc, heartbeats.ExecutorInfo(name="ex1", targets=["ex1"]), ttl_s=1)
    service, stop, task = await running(nc, event_log)
    try:
        assert await service.check_hosts() == 1
        run_id = await _start_run(event_log, "ex1")
        await service.sync()
        [row] = (await query(nc, "runs", {"schedule": "k1"}))["runs"]
        assert (row["status"], "offline" in row) == ("running", False)  # online: plainly running

        for _ in range(50):  # the heartbeat expires (kill -9 of the executor)
            await service.check_hosts()
            await service.sync()
            if service.views.hosts.online.get("ex1") is False:
                break
            await asyncio.sleep(0.1)
        gone = service.views.hosts.since["ex1"].replace(microsecond=0)
        gone_z = gone.isoformat().replace("+00:00", "Z")
        said = f"executor ex1 offline since {gone_z}; its journal settles it when it returns"

        [row] = (await query(nc, "runs", {"schedule": "k1"}))["runs"]
        assert (row["status"], row["offline"]) == ("running", said)
        assert (await query(nc, "run", {"run_id": run_id}))["offline"] == said
        [listed] = await query(nc, "schedules")
        assert (listed["last_status"], listed["last_offline"]) == ("running", said)
        assert (await query(nc, "schedule", {"name": "k1"}))["runs"][0]["offline"] == said

        held = [p for p in (await query(nc, "health"))["problems"] if p["subject"] == "ex1"]
        assert [p["kind"] for p in held] == ["executor_offline"]
        assert held[0]["detail"].startswith(f"offline since {gone_z} (its heartbeat expired)")
        assert f"holds 1 run in flight, started at {row['started_at'][:19]}Z" in held[0]["detail"]
    finally:
        stop.set()
        await task
