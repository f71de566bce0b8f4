"""Replica counts on a single server: more than it can hold is said in one line, a new log
refused (exit 2), an existing one kept (log/placement.py; the cluster cases: test_cluster.py)."""

from __future__ import annotations

import logging

import pytest
from nats.aio.client import Client

from jetcron import subjects
from jetcron.errors import InvalidInput
from jetcron.log.stream import EventLog
from jetcron.service_steps import ensure_buckets


async def test_a_new_log_with_more_replicas_than_servers_is_refused_in_one_line(
    nc: Client,
) -> None:
    log = EventLog(nc)
    with pytest.raises(InvalidInput, match=r"^cannot create JETCRON with 3 replicas: the NATS "
                       r"server reports 1 node \(not a cluster\) \(replicas > 1 not supported "
                       r"in non-clustered mode\); run --replicas 1 or add nodes$"):  # fmt: skip
        await log.ensure_stream(3)
    await log.close()


async def test_an_existing_log_asked_for_more_is_kept_and_said(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    log = await EventLog(nc).open()
    await ensure_buckets(nc, log.replicas)
    await log.ensure_stream(3)
    assert log.replicas == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "JETCRON stays at 1 replica(s): 3 asked, but the NATS server reports 1 node (not a "
        "cluster) (replicas > 1 not supported in non-clustered mode)"
    ]
    info = await nc.jetstream().stream_info(subjects.kv_stream(subjects.EXECUTORS_BUCKET))
    assert info.config.num_replicas == 1
    await log.close()
