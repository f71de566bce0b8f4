"""Retention end to end: run history expires, definitions, their audit and daily rollups stay,
`stats` still counts the expired days, and `replay --verify` still passes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import nats
import pytest
from served import cli, scheduler_in_thread

from jetcron import ids, service, subjects
from jetcron.domain.definition import Job
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import RunStarted, RunSucceeded, RunTriggered
from jetcron.log.stream import EventLog
from polling import wait_until

RETENTION_S = 2
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).replace(
    hour=6, minute=0, second=0, microsecond=0
)


async def _with_log(url: str, step) -> object:  # type: ignore[no-untyped-def]
    nc = await nats.connect(url)
    log = await EventLog(nc).open(create=False)
    try:
        return await step(log)
    finally:
        await log.close()
        await nc.close()


def aging_scheduler(nats_url: str) -> Iterator[str]:
    """`nats_url` while a scheduler runs on a log keeping run history RETENTION_S."""

    async def aging(log: EventLog) -> None:
        await log.ensure_stream(retention_s=RETENTION_S)

    asyncio.run(_with_log(nats_url, aging))
    config = service.ServiceConfig(rollup_grace_s=0, rollup_every_s=0.3)
    yield from scheduler_in_thread(nats_url, config)


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    yield from aging_scheduler(nats_url)


def run_events(schedule_id: str, name: str, fire_time: datetime) -> list[tuple[str, Envelope, str]]:
    """Trigger, start and success of one run, as the ticker and an executor append them."""
    fire = ids.fire_id(schedule_id, 1, fire_time)
    run_id = ids.run_id_for(fire)
    base = {"schedule_id": schedule_id, "name": name, "fire_id": fire, "fire_time": fire_time}
    started_at = fire_time + timedelta(seconds=0.2)
    events = [
        (subjects.trigger("default"), fire_time, RunTriggered(
            **base, run_id=run_id, version=1, target="default", job=Job(command=["true"]))),
        (subjects.run(name, run_id), started_at, RunStarted(**base, run_id=run_id, executor="h")),
        (subjects.run(name, run_id), started_at + timedelta(seconds=3),
         RunSucceeded(**base, run_id=run_id, executor="h", duration_s=3.0)),
    ]  # fmt: skip
    return [
        (subject, Envelope(id=ids.new_id(), at=at, actor="h", event=e), ids.new_id())
        for subject, at, e in events  # type: ignore[misc]
    ]


def append_runs(url: str, name: str, fire_times: list[datetime]) -> None:
    async def step(log: EventLog) -> None:
        await log.load_retention()  # why: as an executor does: run events then get their TTL
        last = await log.last(subjects.schedule(name))
        assert last is not None
        sid = last.event.schedule_id  # type: ignore[union-attr]
        items = [i for t in fire_times for i in run_events(sid, name, t)]
        for ack in await log.publish_many(items):
            assert not isinstance(ack, Exception)

    asyncio.run(_with_log(url, step))


def subjects_in_log(url: str) -> list[str]:
    async def step(log: EventLog) -> list[str]:
        return [s.subject async for batch in log.read() for s in batch]

    return asyncio.run(_with_log(url, step))  # type: ignore[return-value]


async def state_objects(url: str) -> list[tuple[str, bool]]:
    """The `state-*` objects stored, each with whether it was deleted."""
    nc = await nats.connect(url)
    try:
        store = await nc.jetstream().object_store(subjects.SNAPSHOT_BUCKET)
        found = await store.list(ignore_deletes=False)
        return [(o.name[:6], bool(o.deleted)) for o in found if o.name.startswith("state-")]
    finally:
        await nc.close()


def stats_of(url: str, name: str) -> dict[str, object]:
    result = cli(url, "stats", "--schedule", name, "--json")
    assert result.exit_code == 0, result.output
    return next(r for r in json.loads(result.stdout) if r["group"] == "schedule")


def test_run_history_expires_while_definitions_audit_and_rollups_stay(
    scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = scheduler
    assert (
        cli(url, "schedule", "add", "keep", "@at 2099-01-01T00:00:00Z", "--", "true").exit_code == 0
    )
    assert cli(url, "schedule", "update", "keep", "--timeout", "5m").exit_code == 0
    append_runs(
        url, "keep", [YESTERDAY, YESTERDAY + timedelta(hours=1), YESTERDAY + timedelta(hours=2)]
    )
    # the leader rolls yesterday up (grace 0 here), once
    wait_until(lambda: any(s.startswith("jetcron.stats.") for s in subjects_in_log(url)))
    before = datetime.now(UTC)
    time.sleep(RETENTION_S + 1.5)  # TTL plus the server's expiry sweep
    append_runs(url, "keep", [datetime.now(UTC).replace(microsecond=0)])  # history after the gap

    left = subjects_in_log(url)
    assert left[:2] == [subjects.schedule("keep")] * 2  # created + updated: never expire
    assert left.count(subjects.stats("keep")) == 1  # one rollup for the day
    assert sum(s.startswith("jetcron.run.") for s in left) == 2  # only the new run's events
    assert sum(s.startswith("jetcron.trigger.") for s in left) == 1

    audit = cli(url, "audit", "keep", "--json")
    assert [e["type"] for e in json.loads(audit.stdout)] == ["schedule.created", "schedule.updated"]
    row = stats_of(url, "keep")
    assert row["by_status"] == {"succeeded": 4} and row["runs"] == 4

    status = cli(url, "status")
    assert "runs kept 2s in the log, the last 500 per schedule in the views" in status.output

    verify = cli(url, "replay", "--verify")
    assert verify.exit_code == 0, verify.output
    assert "aged out" in verify.output and "identical" in verify.output
    # a live state too large for one NATS message comes through the object store
    monkeypatch.setattr("jetcron.projections.service.STATE_INLINE_MAX", 0)
    monkeypatch.setattr("jetcron.projections.service.STATE_OBJECT_KEEP_S", 0.5)
    as_json = json.loads(cli(url, "replay", "--verify", "--json").stdout)
    assert as_json["identical"] and as_json["compared_from_seq"] > 1
    # stored, read, then deleted by the service (the asker may be a reader, who may not)
    for _ in range(100):
        if (objects := asyncio.run(state_objects(url))) == [("state-", True)]:
            break
        time.sleep(0.1)
    assert objects == [("state-", True)]

    as_of = cli(url, "replay", "--as-of", before.isoformat().replace("+00:00", "Z"))
    assert as_of.exit_code == 0, as_of.output
    assert "aged out of the log" in as_of.output
    assert "keep" in as_of.output
