"""A run held by an executor whose heartbeat expired reads `running?` with since when, in every
answer (newcomer19b F3), and health says the executor is offline since its heartbeat expiry,
apart from the run's start (F4). Against a real nats-server and the real projection service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from test_service_live import running

import raw_runs
from jetcron.client import query
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.events import RunStarted
from jetcron.log import heartbeats
from jetcron.scheduler.handler import CommandHandler

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ack_wait_s", "within"),
    [
        pytest.param(None, "0.3 × ack-wait (9 s by default)", id="older-executor-says-none"),
        pytest.param(10.0, "0.3 × its ack-wait (3 s)", id="its-own-ack-wait"),
    ],
)
async def test_a_run_whose_executor_went_offline_reads_running_with_a_question_mark(
    nc, event_log, ack_wait_s: float | None, within: str
) -> None:
    d = ScheduleDefinition(spec="@every 1h", job=Job(command=["true"]), target="ex1")
    await CommandHandler(event_log).handle(
        CreateSchedule(name="k1", command_id="c1", at=T0, actor="al", definition=d)
    )
    await heartbeats.ensure_bucket(nc)
    info = heartbeats.ExecutorInfo(name="ex1", targets=["ex1"], ack_wait_s=ack_wait_s)
    await heartbeats.put(nc, info, ttl_s=1)
    service, stop, task = await running(nc, event_log)
    try:
        assert await service.check_hosts() == 1
        run = await raw_runs.trigger(event_log, "k1", "ex1")
        await raw_runs.report(event_log, "ex1", RunStarted(**run, executor="ex1"))
        run_id = run["run_id"]
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
        # why: not "its journal settles it": the job is stopped and run again (newcomer20a #4)
        fate = (
            f"unless it is back within {within} of going silent, its "
            "supervisor stops the job and the run is redelivered as the next attempt (lost "
            "after timeout + grace if no executor takes it); a job that ended first keeps its "
            "result in the journal until the executor returns"
        )
        said = f"executor ex1 offline since {gone_z}; {fate}"

        [row] = (await query(nc, "runs", {"schedule": "k1"}))["runs"]
        assert (row["status"], row["offline"]) == ("running", said)
        assert (await query(nc, "run", {"run_id": run_id}))["offline"] == said
        [listed] = await query(nc, "schedules")
        assert (listed["last_status"], listed["last_offline"]) == ("running", said)
        assert (await query(nc, "schedule", {"name": "k1"}))["runs"][0]["offline"] == said

        held = [p for p in (await query(nc, "health"))["problems"] if p["subject"] == "ex1"]
        assert [p["kind"] for p in held] == ["executor_offline"]
        assert held[0]["detail"].startswith(f"offline since {gone_z} (its heartbeat expired)")
        started = row["started_at"][:19]
        assert held[0]["detail"].endswith(f"holds 1 run in flight, started at {started}Z; {fate}")
    finally:
        stop.set()
        await task
