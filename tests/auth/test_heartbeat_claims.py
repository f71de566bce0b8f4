"""What a heartbeat may claim, against a real secured nats-server: an executor identity writes
only its own key but the whole body; readers believe the key, and only a fresh beat."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nats.aio.client import Client
from secured import Secured, started

from jetcron import subjects
from jetcron.log import heartbeats
from jetcron.log.heartbeats import ExecutorInfo, believed

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    yield from started(tmp_path)


@pytest.fixture
async def reader(sec: Secured) -> AsyncIterator[Client]:
    """An operator (what `jetcron executors` runs as), with the bucket in place."""
    admin = await sec.client("admin")
    await heartbeats.ensure_bucket(admin)
    await admin.close()
    nc = await sec.client("alice")
    yield nc
    await nc.close()


def forged(name: str, **fields: object) -> bytes:
    """A heartbeat body as anyone may write it by hand (no ExecutorInfo, no TTL)."""
    body = {"name": name, "targets": [name, "prod-db"], "actions": ["wipe_disk"], "interval_s": 5}
    return json.dumps(body | fields).encode()


async def test_an_executor_cannot_pose_as_another_under_its_own_key(
    sec: Secured, reader: Client
) -> None:
    nc = await sec.client("host-a")
    await nc.jetstream().publish(subjects.heartbeat_key("host-a"), forged("vm"))
    assert sec.errors["host-a"] == []  # why: its own key: the server lets the write through
    assert await heartbeats.list_executors(reader) == []
    assert await heartbeats.get(reader, "vm") is None
    assert await heartbeats.get(reader, "host-a") is None
    await nc.close()


async def test_a_heartbeat_without_ttl_goes_stale_like_one_with_it(
    sec: Secured, reader: Client
) -> None:
    nc = await sec.client("host-a")
    await nc.jetstream().publish(subjects.heartbeat_key("host-a"), forged("host-a", interval_s=1))
    assert [e.name for e in await heartbeats.list_executors(reader)] == ["host-a"]
    await asyncio.sleep(heartbeats.ttl_s(1) + 0.5)
    assert await heartbeats.list_executors(reader) == []
    assert await heartbeats.get(reader, "host-a") is None
    await nc.close()


def beat(name: str, interval_s: float = 5.0) -> ExecutorInfo:
    return ExecutorInfo(name=name, interval_s=interval_s)


@pytest.mark.parametrize(
    ("key", "info", "age_s", "ok"),
    [
        pytest.param("pi", beat("pi"), 0.0, True, id="own-name-fresh"),
        pytest.param("pi", beat("pi"), 15.0, True, id="own-name-at-its-ttl"),
        pytest.param("pi", beat("pi"), 15.5, False, id="own-name-past-its-ttl"),
        pytest.param("pi", beat("pi", 0.2), 1.0, True, id="ttl-at-least-one-second"),
        pytest.param("pi", beat("vm"), 0.0, False, id="another-name"),
        pytest.param("a~b", beat("a.b"), 0.0, True, id="dotted-name-as-its-key"),
        pytest.param("pi", beat("pi"), None, False, id="store-time-unknown"),
    ],
)
def test_what_a_heartbeat_is_believed_to_say(
    key: str, info: ExecutorInfo, age_s: float | None, ok: bool
) -> None:
    seen = None if age_s is None else T0 - timedelta(seconds=age_s)
    assert believed(subjects.kv_key(subjects.EXECUTORS_BUCKET, key), info, seen, T0) is ok
