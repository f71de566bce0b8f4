"""Run events name their writer: an executor cannot write another host's run, and the folds
reject a forged one that reached the log anyway (admin creds)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.aio.client import Client
from secured import Secured, started

from jetcron import ids, subjects
from jetcron.domain.definition import Job
from jetcron.domain.envelope import Envelope, encode
from jetcron.domain.events import RunStarted, RunSucceeded, RunTriggered
from jetcron.executors.attempt import summarize
from jetcron.log.stream import EventLog
from jetcron.projections import health, state


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    yield from started(tmp_path)


def a_trigger(target: str) -> RunTriggered:
    fire_id = f"sid-job:v1:{ids.new_id()}"
    return RunTriggered(
        schedule_id="sid-job", name="job", fire_id=fire_id, fire_time=datetime.now(UTC),
        run_id=ids.run_id_for(fire_id), version=1, target=target, job=Job(command=["true"]),
    )  # fmt: skip


def envelope(event: object, actor: str = "test") -> Envelope:
    return Envelope(id=ids.new_id(), at=datetime.now(UTC), actor=actor, event=event)  # type: ignore[arg-type]


async def last_seq(admin: Client) -> int:
    return int((await admin.jetstream().stream_info(subjects.STREAM)).state.last_seq)


async def test_an_executor_cannot_write_a_run_event_for_another_host(sec: Secured) -> None:
    admin = await sec.client("admin")
    await EventLog(admin).open(create=True)
    nc = await sec.client("host-a")
    js = nc.jetstream()
    t = a_trigger("host-b")
    done = encode(envelope(RunSucceeded(**fields(t), executor="host-b"), "executor:host-a"))
    before = await last_seq(admin)
    for subject in (
        subjects.run_by(t.name, t.run_id, "host-b", "host-b"),  # as host-b
        subjects.run_by(t.name, t.run_id, "host-b", "host-a"),  # host-b's target, own name
        subjects.run_by(t.name, t.run_id, "host-a", "host-b"),  # own target, host-b's name
        subjects.run(t.name, t.run_id),  # the subject of older logs
        subjects.run_by_scheduler(t.name, t.run_id),  # as the scheduler
    ):
        error = await sec.violation("host-a", lambda s=subject: js.publish(s, done, timeout=0.3))
        assert f'publish to "{subject.lower()}"' in error.lower()
    assert await last_seq(admin) == before
    # its own name and target are allowed
    mine = subjects.run_by(t.name, t.run_id, "host-a", "host-a")
    assert (await js.publish(mine, done, timeout=2)).seq == before + 1
    await nc.close()
    await admin.close()


def fields(t: RunTriggered) -> dict[str, object]:
    return {
        "schedule_id": t.schedule_id, "name": t.name, "fire_id": t.fire_id,
        "fire_time": t.fire_time, "run_id": t.run_id,
    }  # fmt: skip


async def test_a_forged_run_event_is_rejected_by_the_folds(sec: Secured) -> None:
    admin = await sec.client("admin")
    event_log = await EventLog(admin).open(create=True)
    t = a_trigger("host-b")
    await event_log.publish(subjects.trigger("host-b"), envelope(t), msg_id=t.fire_id)
    as_b = subjects.run_by(t.name, t.run_id, "host-b", "host-b")
    await event_log.publish(as_b, envelope(RunStarted(**fields(t), executor="host-b")))
    forged = {
        # admin's hand on host-a's subject: host-a does not hold the run, nor serve its target
        subjects.run_by(t.name, t.run_id, "host-a", "host-a"): "host-a",
        # on host-b's target but naming another executor than the subject's
        subjects.run_by(t.name, t.run_id, "host-b", "host-c"): "host-b",
    }
    for subject, says in forged.items():
        await event_log.publish(subject, envelope(RunSucceeded(**fields(t), executor=says)))
    events, _ = await event_log.load_run(t.name, t.run_id)
    assert len(events) == 3

    views = state.replay(
        [e async for batch in event_log.read(until_seq=await event_log.last_seq()) for e in batch]
    )
    row = views.runs.rows[t.run_id]
    assert (row.status, row.executor) == ("running", "host-b")
    assert views.rejected == 2
    report = health.evaluate(views, now=datetime.now(UTC), executors_online={})
    rejected = [p for p in report.problems if p.kind == "rejected_run_events"]
    assert "triggered for 'host-b', written by host-a as 'host-a'" in rejected[0].detail
    assert "says executor 'host-b' but 'host-c' wrote it" in rejected[1].detail
    # the executor holding it sees the run as still its own, not finished
    assert not summarize(events, t).finished
    await event_log.close()
    await admin.close()
