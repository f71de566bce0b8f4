"""The projection service against a real nats-server: queries, snapshots, poison, metrics."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from conftest import free_port
from jetcron import subjects
from jetcron.client import query
from jetcron.domain.commands import CreateSchedule, PauseSchedule, UpdateSchedule
from jetcron.domain.definition import DefinitionPatch, Job, ScheduleDefinition
from jetcron.domain.errors import ScheduleNotFound
from jetcron.errors import InvalidInput
from jetcron.log.stream import EventLog
from jetcron.projections.service import ProjectionService
from jetcron.scheduler.handler import CommandHandler

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


async def seed(event_log: EventLog) -> None:
    h = CommandHandler(event_log)
    d = ScheduleDefinition(spec="*/5 * * * *", job=Job(command=["true"]))
    await h.handle(CreateSchedule(name="a", command_id="c1", at=T0, actor="alice", definition=d))
    await h.handle(CreateSchedule(name="b", command_id="c2", at=T0, actor="alice", definition=d))
    await h.handle(
        UpdateSchedule(
            name="a",
            command_id="u1",
            at=T0,
            actor="bob",
            reason="slower",
            patch=DefinitionPatch(spec="*/10 * * * *"),
        )
    )
    await h.handle(
        PauseSchedule(name="b", command_id="p1", at=T0, actor="carol", reason="broken disk")
    )


async def running(
    nc, event_log, **kw
) -> tuple[ProjectionService, asyncio.Event, asyncio.Task[None]]:
    service = ProjectionService(nc, event_log, **kw)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(service.run(stop, ready=ready))
    await ready.wait()
    return service, stop, task


async def test_queries_answer_from_the_log(nc, event_log) -> None:
    await seed(event_log)
    _, stop, task = await running(nc, event_log)
    rows = await query(nc, "schedules")
    assert [(r["name"], r["state"], r["version"], r["spec"]) for r in rows] == [
        ("a", "active", 2, "*/10 * * * *"),
        ("b", "paused", 2, "*/5 * * * *"),
    ]
    audit = await query(nc, "audit", {"name": "a"})
    assert audit[1]["actor"] == "bob" and audit[1]["reason"] == "slower"
    assert audit[1]["diff"]["spec"] == ["*/5 * * * *", "*/10 * * * *"]
    with pytest.raises(ScheduleNotFound, match="'zzz'"):
        await query(nc, "schedule", {"name": "zzz"})
    with pytest.raises(InvalidInput):
        await query(nc, "runs", {"since": "yesterday"})
    stop.set()
    await task


async def test_restart_resumes_from_snapshot_and_equals_a_rebuild(nc, event_log) -> None:
    await seed(event_log)
    first, stop, task = await running(nc, event_log)
    await first.sync()
    stop.set()
    await task  # snapshots on the way out
    second = ProjectionService(nc, event_log)
    await second.restore()
    assert second.views.position == first.views.position > 0
    rebuilt = ProjectionService(nc, event_log)
    rebuilt_stop, rebuilt_ready = asyncio.Event(), asyncio.Event()
    rebuilt.restore = lambda: asyncio.sleep(0)  # type: ignore[method-assign]  # from sequence 1
    t = asyncio.create_task(rebuilt.run(rebuilt_stop, ready=rebuilt_ready))
    await rebuilt_ready.wait()
    await rebuilt.sync()
    assert rebuilt.views.position == second.views.position
    from jetcron.projections.snapshot import snapshot

    assert snapshot(rebuilt.views) == snapshot(second.views)
    rebuilt_stop.set()
    await t


async def test_poison_is_counted_and_skipped(nc, event_log) -> None:
    await seed(event_log)
    await nc.publish(subjects.fire("a"), b"{not json")
    await nc.publish(
        subjects.fire("a"),
        b'{"id":"x","at":"2026-01-01T00:00:00Z","actor":"a","event":{"type":"fire.teleported"}}',
    )
    await nc.flush()
    await seed(event_log)  # idempotent: nothing new, but the projection must still be alive
    h = CommandHandler(event_log)
    await h.handle(PauseSchedule(name="a", command_id="p2", at=T0, actor="dave"))
    service, stop, task = await running(nc, event_log)
    status = await query(nc, "status")
    assert status["projection"]["poison_events"] == 2
    assert [r["state"] for r in await query(nc, "schedules")] == ["paused", "paused"]
    assert service.views.poison == 2
    stop.set()
    await task


async def test_poison_is_located_in_health_and_old_poison_is_not_warned_again(
    nc, event_log, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """newcomer19b F11: health gave a count only, and after `health --ack` every restart and
    every replay printed the same warnings again."""
    import logging

    from jetcron.domain.commands import AcknowledgeHealth
    from jetcron.log import decoding

    await seed(event_log)
    for subject, data in ((subjects.fire("a"), b"{not json"), (subjects.stats("b"), b"[]")):
        # why a request: its answer is the stream's ack, so both are stored before last_seq
        # (a plain publish and flush raced the store: seen once in CI)
        await nc.request(subject, data, timeout=5)
    last = await event_log.last_seq()
    service, stop, task = await running(nc, event_log)
    try:
        [row] = [p for p in (await query(nc, "health"))["problems"] if p["kind"] == "poison_events"]
        assert row["detail"].startswith(
            f"2 event(s) could not be folded: seq {last - 1} (?), seq {last} (?);"
        )
        await CommandHandler(event_log).handle(
            AcknowledgeHealth(name="health", command_id="a1", at=T0, actor="al", reason="seen")
        )
    finally:
        stop.set()
        await task
    monkeypatch.setattr(decoding, "STARTED_NS", time.time_ns())  # a process started since
    decoding._WARNED.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO):  # a reader of the history, as a ticker at its start
        await event_log.load(subjects.fire("a"))
    skipped = [r for r in caplog.records if r.getMessage().startswith("skipping event at seq")]
    assert [r.levelno for r in skipped] == [logging.INFO]
    assert decoding.poison_level(time.time_ns()) == logging.WARNING  # stored while it runs


async def test_metrics_endpoint_serves_prometheus_text(nc, event_log) -> None:
    await seed(event_log)
    port = free_port()
    service, stop, task = await running(nc, event_log, metrics_port=port)
    await service.sync()
    body = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    )
    text = body.decode()
    for name in (
        "jetcron_schedules",
        "jetcron_projection_position",
        "jetcron_projection_lag",
        "jetcron_executors_online",
        "jetcron_run_duration_seconds",
        "jetcron_poison_events",
    ):
        assert name in text
    assert 'jetcron_schedules{state="paused"} 1.0' in text
    stop.set()
    await task


async def test_since_without_offset_means_utc(nc, event_log) -> None:
    await seed(event_log)
    _, stop, task = await running(nc, event_log)
    assert len(await query(nc, "audit", {"since": "2020-01-01"})) == 4
    assert await query(nc, "runs", {"since": "2020-01-01T00:00:00"}) == {
        "runs": [],
        "more": False,
        "next_offset": None,
        "next_before": None,
    }
    stop.set()
    await task


async def test_an_answer_too_big_for_one_message_comes_compressed(nc, event_log) -> None:
    from jetcron import ids
    from jetcron.domain.envelope import Envelope
    from jetcron.domain.events import ScheduleCreated

    d = ScheduleDefinition(spec="*/5 * * * *", job=Job(command=["true"]), description="x" * 200)
    items = []
    for i in range(3000):  # why: ~1.2 MB of `schedules` JSON, more than NATS's 1 MB message
        name = f"job-{i}"
        event = ScheduleCreated(
            schedule_id=ids.derived_id("schedule", name, "c"), name=name, version=1, definition=d
        )
        envelope = Envelope(id=ids.new_id(), at=T0, actor="alice", event=event)
        items.append((subjects.schedule(name), envelope, envelope.id))
    assert not [a for a in await event_log.publish_many(items) if isinstance(a, Exception)]
    service, stop, task = await running(nc, event_log)

    rows = await query(nc, "schedules", {"limit": 5000})

    assert len(rows) == 3000 and len(str(rows)) > nc.max_payload
    stop.set()
    await task


async def test_a_fan_out_member_gone_offline_is_a_health_problem(nc, event_log) -> None:
    from jetcron.log import heartbeats

    async def offline() -> list[str]:
        problems = (await query(nc, "health"))["problems"]
        return [p["subject"] for p in problems if p["kind"] == "executor_offline"]

    h = CommandHandler(event_log)
    d = ScheduleDefinition(spec="*/5 * * * *", job=Job(command=["true"]), target="all:lights")
    await h.handle(CreateSchedule(name="lamps", command_id="c1", at=T0, actor="al", definition=d))
    await heartbeats.ensure_bucket(nc)
    await heartbeats.put(nc, heartbeats.ExecutorInfo(name="pi2", tags=["lights"]), ttl_s=30)
    service, stop, task = await running(nc, event_log)
    try:
        assert await service.check_hosts() == 1
        await service.sync()
        assert service.views.hosts.tags == {"pi2": ["lights"]}
        assert await offline() == []
        await heartbeats.remove(nc, "pi2")
        assert await service.check_hosts() == 1
        assert await offline() == ["pi2"]
    finally:
        stop.set()
        await task


async def test_a_dead_executor_is_a_health_problem_and_one_stopped_on_purpose_is_not(
    nc, event_log
) -> None:
    """newcomer16b N5: a pool member whose heartbeat expired (kill -9) is listed although no
    run waits for it; one that removed its heartbeat (Ctrl-C) is not; `health --ack` clears."""
    from jetcron.domain.commands import AcknowledgeHealth
    from jetcron.log import heartbeats

    async def offline() -> list[str]:
        problems = (await query(nc, "health"))["problems"]
        return [p["subject"] for p in problems if p["kind"] == "executor_offline"]

    await heartbeats.ensure_bucket(nc)
    for name in ("dead", "stopped"):
        await heartbeats.put(nc, heartbeats.ExecutorInfo(name=name, tags=["pool"]), ttl_s=1)
    service, stop, task = await running(nc, event_log)

    async def settled(online: bool) -> None:  # why: the leader's own loop may do it first
        for _ in range(50):
            await service.check_hosts()
            await service.sync()
            if set(service.views.hosts.online.values()) == {online}:
                return
            await asyncio.sleep(0.1)

    try:
        await settled(True)
        await heartbeats.remove(nc, "stopped")  # a graceful stop: its purge marker stays a while
        for _ in range(50):  # the other key expires (1 s TTL) without a marker
            if [i.name for i in await heartbeats.list_executors(nc)] == []:
                break
            await asyncio.sleep(0.1)
        assert await heartbeats.roster(nc) == ([], {"stopped"})
        await settled(False)
        assert service.views.hosts.quiet == {"stopped": "stopped"}
        assert await offline() == ["dead"]
        await CommandHandler(event_log).handle(
            AcknowledgeHealth(name="health", command_id="a1", at=T0, actor="al", reason="gone")
        )
        await service.sync()
        assert await offline() == []
    finally:
        stop.set()
        await task


async def test_an_unreadable_event_after_an_ack_counts_the_same_in_any_batches(
    nc, event_log
) -> None:
    """The live service (small batches) and `replay --verify` (one batch) disagreed: the reader
    reported the unreadable event before the batch's earlier `health --ack` was folded, so the
    replay counted it as acknowledged and dropped its sample (newcomer16c #9b)."""
    import msgspec

    from jetcron.cli.replaying import rebuild
    from jetcron.domain.envelope import Envelope
    from jetcron.domain.events import HealthAcknowledged
    from jetcron.projections.state import apply_batch, new_views, record_undecodable

    await seed(event_log)
    ack = Envelope(id="ack1", at=T0, actor="ops", event=HealthAcknowledged())
    await nc.jetstream().publish(subjects.HEALTH_ACKS, msgspec.json.encode(ack))
    bad = await nc.jetstream().publish(subjects.fire("a"), b"{not json")
    one_batch, _ = await rebuild(nc, None)
    one_by_one = new_views(one_batch.keep)

    def undecodable(seq, unknown) -> None:
        record_undecodable(one_by_one, seq, unknown.type, unknown.problem)

    async for batch in event_log.read(batch=1, on_skipped=undecodable):
        apply_batch(one_by_one, batch)
    for views in (one_batch, one_by_one):
        assert (views.poison, views.poison_acknowledged) == (1, 0)
        assert [s.seq for s in views.poison_samples] == [bad.seq]


async def test_a_large_state_answer_is_deleted_by_the_service_later(
    nc, event_log, monkeypatch
) -> None:
    """The asker (an auditor may only read the store) leaves it; the service deletes it."""
    from nats.js.errors import ObjectNotFoundError

    from jetcron.log import snapshots
    from jetcron.projections import service as module

    monkeypatch.setattr(module, "STATE_INLINE_MAX", 0)
    monkeypatch.setattr(module, "STATE_OBJECT_KEEP_S", 1.0)
    await seed(event_log)
    _, stop, task = await running(nc, event_log)
    answer = await query(nc, "state")
    assert await snapshots.load(nc, answer["object"]) is not None
    store = await nc.jetstream().object_store(subjects.SNAPSHOT_BUCKET)
    for _ in range(100):
        try:
            await store.get_info(answer["object"])
        except ObjectNotFoundError:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the answer object is still there")
    stop.set()
    await task


def test_a_state_answer_is_stale_two_keep_times_after_it_was_named() -> None:
    from jetcron.projections.service import STATE_OBJECT_KEEP_S, stale_answer

    now = 1_800_000_000.0
    assert not stale_answer("views", now)
    assert not stale_answer(f"state-{int(now) - 5}-abc", now)
    assert stale_answer(f"state-{int(now - 2 * STATE_OBJECT_KEEP_S) - 1}-abc", now)
    assert stale_answer("state-abcdef", now)  # named before answers carried their time


async def test_state_answers_a_stopped_replica_left_behind_are_swept(nc, event_log) -> None:
    import time

    from jetcron.log import snapshots

    fresh = f"state-{int(time.time())}-fresh"
    for name in ("state-1000-left", "state-oldstyle", fresh, "views-other"):
        await snapshots.save(nc, name, b"x")
    _, stop, task = await running(nc, event_log)
    try:
        for _ in range(100):
            if "state-1000-left" not in await snapshots.names(nc):
                break
            await asyncio.sleep(0.1)
        assert sorted(await snapshots.names(nc)) == sorted([fresh, "views-other"])
    finally:
        stop.set()
        await task


async def test_after_a_nats_outage_executors_get_a_moment_to_be_heard_before_offline(
    nc, event_log, nats_server, monkeypatch
) -> None:
    """newcomer18b F8: every NATS outage over ~15 s recorded executor.offline for every
    executor (their heartbeats expired meanwhile), all fine and back within 2 s."""
    import os
    import signal

    from conftest import freeze
    from jetcron.log import heartbeats
    from jetcron.projections import hosts
    from jetcron.projections import service as service_module

    monkeypatch.setattr(hosts, "HEARD_AGAIN_S", 4.0)
    monkeypatch.setattr(service_module, "LOG_SILENT_S", 0.2)  # why: not what holds it here
    await heartbeats.ensure_bucket(nc)
    for name in ("back", "gone"):
        await heartbeats.put(nc, heartbeats.ExecutorInfo(name=name), ttl_s=1)
    service, stop, task = await running(nc, event_log)
    try:
        await service.check_hosts()
        await service.sync()
        assert service.views.hosts.online == {"back": True, "gone": True}
        freeze(nats_server)  # both heartbeats expire while NATS cannot take a new one
        try:
            assert await service.sync(timeout=1.5) is None, "the log answered while frozen"
            await asyncio.sleep(1.0)
        finally:
            assert nats_server.pid is not None
            os.kill(nats_server.pid, signal.SIGCONT)
        assert await heartbeats.list_executors(nc) == []
        await asyncio.sleep(0.5)
        assert await service.sync() == 0
        await service.check_hosts()
        await heartbeats.put(nc, heartbeats.ExecutorInfo(name="back"), ttl_s=30)
        await asyncio.sleep(4.0)
        await service.check_hosts()
        await service.sync()
        assert service.views.hosts.online == {"back": True, "gone": False}
        said = [s.event for s in (await event_log.load(subjects.host("back")))[0]]
        assert [type(e).__name__ for e in said] == ["ExecutorOnline"], "declared offline"
    finally:
        stop.set()
        await task
