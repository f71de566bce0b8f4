"""jetcron on a 3-node JetStream cluster: an R3 log keeps taking commands when its leader dies,
and its buckets follow the log's replica count."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError

from conftest import freeze
from jetcron import subjects
from jetcron.cli.status import status_lines
from jetcron.client import query
from jetcron.connect import ConnectOptions, connect
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.errors import JetcronError
from jetcron.log import heartbeats, secrets, snapshots, withdrawal
from jetcron.log.heartbeats import ExecutorInfo
from jetcron.log.lease import KvLease
from jetcron.log.stream import EventLog
from jetcron.projections.service import ProjectionService
from jetcron.scheduler.handler import CommandHandler
from jetcron.server import NatsServer
from jetcron.service_steps import ensure_buckets

T = TypeVar("T")
BUCKETS = (
    subjects.LEASE_BUCKET,
    subjects.COMMANDS_BUCKET,
    subjects.EXECUTORS_BUCKET,
    subjects.SECRETS_BUCKET,
    subjects.HOOK_SECRETS_BUCKET,
)
SNAPSHOTS = subjects.object_stream(subjects.SNAPSHOT_BUCKET)


def create(name: str) -> CreateSchedule:
    definition = ScheduleDefinition(spec="@hourly", job=Job(command=["true"]))
    return CreateSchedule(
        name=name, command_id=f"c-{name}", at=datetime.now(UTC), actor="t", definition=definition
    )


async def test_r3_log_survives_the_loss_of_its_leader(nats_cluster: list[NatsServer]) -> None:
    urls = ",".join(node.url for node in nats_cluster)
    nc = await connect(ConnectOptions(servers=urls), persistent=True)
    log = await EventLog(nc).open(replicas=3)
    handler = CommandHandler(log)
    await handler.handle(create("before"))
    info = await log.js.stream_info(subjects.STREAM)
    assert info.config.num_replicas == 3
    leader = next(n for n in nats_cluster if n.server_name == info.cluster.leader)  # type: ignore[union-attr]
    leader.stop()  # the stream leader goes away; a new one is elected
    await handler.handle(create("after"))  # retried under the same ids until a leader answers
    names = set()
    for name in ("before", "after"):
        events, _ = await log.load(subjects.schedule(name))
        names |= {e.event.name for e in events}  # type: ignore[union-attr]
    assert names == {"before", "after"}
    await log.close()
    await nc.close()


async def _retrying(step: Callable[[], Awaitable[T]], within: float = 20.0) -> T:
    """`step`'s result once it answers (a stream whose leader died answers after an election)."""
    async with asyncio.timeout(within):
        while True:
            try:
                return await step()
            except (NatsError, JetcronError):
                await asyncio.sleep(0.2)


async def test_every_bucket_follows_the_log_up_to_r3_and_survives_a_node(
    nats_cluster: list[NatsServer], caplog: pytest.LogCaptureFixture
) -> None:
    # given a store made at R1 (a first `serve` without --replicas): log, buckets, snapshots
    urls = ",".join(node.url for node in nats_cluster)
    nc = await connect(ConnectOptions(servers=urls), persistent=True)
    log = await EventLog(nc).open()
    await ensure_buckets(nc, log.replicas, KvLease(nc, holder="s1", replicas=log.replicas))
    await secrets.put(nc, "pi", "TOKEN", "s3cret")
    await snapshots.save(nc, "views", b"state")
    streams = [subjects.STREAM, *(subjects.kv_stream(b) for b in BUCKETS), SNAPSHOTS]
    assert {s: await _replicas(nc, s) for s in streams} == dict.fromkeys(streams, 1)
    # when a replica starts with --replicas 3
    await log.ensure_stream(3)
    await ensure_buckets(nc, log.replicas, KvLease(nc, holder="s1", replicas=log.replicas))
    # then the log, every bucket and the snapshot store are R3, said once for the buckets
    assert {s: await _replicas(nc, s) for s in streams} == dict.fromkeys(streams, 3)
    said = [r.getMessage() for r in caplog.records if "replicas raised" in r.getMessage()]
    assert said == ["JETCRON: replicas raised from 1 to 3"]
    assert sum("raised to the log's 3 replicas" in r.getMessage() for r in caplog.records) == 1
    # and the node leading the executors bucket can die: every bucket still answers
    for stream in streams:  # why: a stream just scaled up has peers to catch up first
        await _retrying(lambda s=stream: _leader(nc, nats_cluster, s))  # type: ignore[misc]
    leader = await _leader(nc, nats_cluster, heartbeats.STREAM)
    leader.stop()
    await _retrying(lambda: heartbeats.put(nc, ExecutorInfo(name="pi"), ttl_s=30))
    assert [e.name for e in await _retrying(lambda: heartbeats.list_executors(nc))] == ["pi"]
    assert await _retrying(lambda: secrets.get(nc, "pi", "TOKEN")) == "s3cret"
    assert await _retrying(lambda: snapshots.load(nc, "views")) == b"state"
    assert await withdrawal.take(nc, "ops", "c1", withdrawal.APPLYING) is True
    await log.close()
    await nc.close()


async def test_replicas_beyond_the_cluster_or_below_the_log_are_said_and_kept(
    nats_cluster: list[NatsServer], caplog: pytest.LogCaptureFixture
) -> None:
    urls = ",".join(node.url for node in nats_cluster)
    nc = await connect(ConnectOptions(servers=urls), persistent=True)
    log = await EventLog(nc).open(replicas=3)
    await log.ensure_stream(5)
    await log.ensure_stream(1)
    assert await _replicas(nc, subjects.STREAM) == 3
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert lines == [
        "JETCRON stays at 3 replica(s): 5 asked, but the NATS server reports 3 nodes "
        "(no suitable peers for placement)",
        "JETCRON has 3 replicas, --replicas asks 1: kept at 3 (lowering is an admin's "
        "decision: `nats stream edit JETCRON --replicas 1`)",
    ]
    await log.close()
    await nc.close()


async def _leader(nc: Client, nodes: list[NatsServer], stream: str) -> NatsServer:
    """The node leading `stream` (a stream just scaled up elects one first)."""
    info = await nc.jetstream().stream_info(stream)
    cluster = info.cluster
    peers = [] if cluster is None else cluster.replicas or []
    if cluster is None or len(peers) != len(nodes) - 1 or not all(p.current for p in peers):
        raise JetcronError(f"{stream} has replicas to catch up")
    return next(node for node in nodes if node.server_name == cluster.leader)


async def _replicas(nc: Client, stream: str) -> int:
    return int((await nc.jetstream().stream_info(stream)).config.num_replicas or 1)


async def test_status_and_health_answer_while_an_r1_executors_bucket_is_down(
    nats_cluster: list[NatsServer],
) -> None:
    # given an R3 log and an executors bucket left at R1 (as made before buckets followed it)
    urls = ",".join(node.url for node in nats_cluster)
    nc = await connect(ConnectOptions(servers=urls), persistent=True)
    log = await EventLog(nc).open(replicas=3)
    await heartbeats.ensure_bucket(nc, 1)
    info = await nc.jetstream().stream_info(heartbeats.STREAM)
    holder = next(n for n in nats_cluster if n.server_name == info.cluster.leader)  # type: ignore[union-attr]
    await _retrying(lambda: _leader(nc, nats_cluster, subjects.STREAM))
    service = ProjectionService(nc, log)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(service.run(stop, ready=ready))
    await ready.wait()
    # when the node holding the bucket dies
    holder.stop()
    # then status and health answer for everything else and say what they cannot know
    status = await _retrying(lambda: query(nc, "status"))
    unknown = "the heartbeats (KV bucket jetcron_executors) cannot be read: "
    assert status["executors_unknown"].startswith(unknown)
    assert status_lines(status)[5].startswith(f"executors  unknown: {unknown}")
    report = await _retrying(lambda: query(nc, "health"))
    assert [p["kind"] for p in report["problems"]] == ["executors_unknown"]
    stop.set()
    await task
    await log.close()
    await nc.close()


async def test_a_query_service_asks_a_silent_log_once_not_per_query(
    nats_cluster: list[NatsServer],
) -> None:
    """newcomer17b: with the stream's leader frozen, every query waited its 2 s for the log's
    end; a replica answers one query of a kind at a time, so queued ones timed out at the asker
    although the replica was fine. Now one waits; those after it answer at once, marked stale."""
    setup = await connect(ConnectOptions(servers=nats_cluster[0].url), persistent=True)
    created = await EventLog(setup).open(replicas=3)
    info = await created.js.stream_info(subjects.STREAM)
    await created.close()
    await setup.close()
    leader = next(n for n in nats_cluster if n.server_name == info.cluster.leader)  # type: ignore[union-attr]
    other = next(n for n in nats_cluster if n is not leader)
    nc = await connect(ConnectOptions(servers=other.url), persistent=True)
    log = await EventLog(nc).open(create=False)
    service = ProjectionService(nc, log)
    try:
        assert await service.sync() == 0
        freeze(leader)
        took = []
        for _ in range(3):
            started = time.monotonic()
            assert await service.sync() is None  # the log does not say how far it goes
            took.append(time.monotonic() - started)
        assert took[0] >= 1.9 and max(took[1:]) < 0.1, took
    finally:
        assert leader.pid is not None
        os.kill(leader.pid, signal.SIGCONT)
        await log.close()
        await nc.close()


async def test_an_append_while_the_log_has_no_leader_says_so_not_is_the_stream_there(
    nats_cluster: list[NatsServer],
) -> None:
    # newcomer19c #10: "no responders (503); is the JETCRON stream there?" during a lost quorum
    from jetcron.log.errors import AppendFailed, no_leader

    urls = ",".join(node.url for node in nats_cluster)
    nc = await connect(ConnectOptions(servers=urls), persistent=True)
    log = await EventLog(nc).open(replicas=3)
    await CommandHandler(log).handle(create("before"))
    info = await log.js.stream_info(subjects.STREAM)
    # why a follower: a leader left alone stays leader and only never acks (a timeout)
    survivor = next(n for n in nats_cluster if n.server_name != info.cluster.leader)  # type: ignore[union-attr]
    # why the leader last: stopped first, the two left could elect the survivor
    for node in sorted(nats_cluster, key=lambda n: n.server_name == info.cluster.leader):  # type: ignore[union-attr]
        if node is not survivor:
            node.stop()  # 1 of 3 left: no quorum, no stream leader
    alone = await connect(ConnectOptions(servers=survivor.url))
    lonely = await EventLog(alone).open(create=False)
    with pytest.raises(AppendFailed) as err:
        await lonely.publisher.publish(subjects.schedule("during"), b"{}", attempts=2)
    assert "no leader for stream JETCRON right now (election or lost quorum)" in str(err.value)
    assert no_leader(err.value) and "is the JETCRON stream there" not in str(err.value)
    for closing in (lonely, log):
        await closing.close()
    for client in (alone, nc):
        await client.close()


async def test_an_append_to_a_log_that_does_not_exist_says_so(nc: Client) -> None:
    from jetcron.log.errors import AppendFailed, no_leader
    from jetcron.log.publisher import Publisher

    publisher = Publisher(nc)
    await publisher.start()
    with pytest.raises(
        AppendFailed, match=r"no responders \(503\): stream JETCRON does not exist$"
    ) as err:
        await publisher.publish(subjects.schedule("x"), b"{}", attempts=1)
    assert not no_leader(err.value)
    await publisher.close()


def test_a_bucket_without_leader_is_named_as_the_bucket() -> None:
    from jetcron.log.errors import NoLeader

    said = str(NoLeader(subjects.kv_key(subjects.LEASE_BUCKET, "ticker"), "503"))
    assert said == (
        "$KV.jetcron_lease.ticker: no responders (503): no leader for KV bucket jetcron_lease "
        "right now (election or lost quorum)"
    )


async def test_answers_while_the_log_lost_its_quorum_say_so(
    nats_cluster: list[NatsServer],
) -> None:
    # newcomer19c #11: a leader left alone still answers STREAM.INFO; views read to its end
    # answered `runs list` and `fires` as current while nothing could be stored
    from jetcron.projections import queries
    from jetcron.projections.serving import answer

    setup = await connect(ConnectOptions(servers=nats_cluster[0].url), persistent=True)
    created = await EventLog(setup).open(replicas=3)
    info = await created.js.stream_info(subjects.STREAM)
    await created.close()
    await setup.close()
    leader = next(n for n in nats_cluster if n.server_name == info.cluster.leader)  # type: ignore[union-attr]
    nc = await connect(ConnectOptions(servers=leader.url), persistent=True)
    log = await EventLog(nc).open(create=False)
    service = ProjectionService(nc, log)
    try:
        _, _, stale = await answer(service, queries.list_runs, b"{}")
        assert stale is None
        for node in nats_cluster:
            if node is not leader:
                node.stop()

        async def no_quorum() -> str:
            _, _, stale = await answer(service, queries.list_runs, b"{}")
            if stale is None:
                raise JetcronError("not noticed yet")  # why: _retrying asks again
            return stale.reason

        reason = await _retrying(no_quorum)
        assert reason == (
            "2 of 3 replicas of stream JETCRON are offline: no quorum, nothing new can be stored "
            "until they are back"
        )
    finally:
        await log.close()
        await nc.close()
