"""A lease key holding a value no replica wrote (newcomer16b F7): it is free, not a wall.

Such a value has no TTL (the bucket has none of its own, and a plain KV put sets none), so
while replicas refused it nothing ticked ever again, and `status`/`health` died on it with a
bare decode error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import nats
import pytest
from nats.aio.client import Client

from jetcron import service, subjects
from jetcron.log.lease import KvLease, lease_holder
from polling import until

GARBAGE = b"\x00garbage"


async def poison_key(nc: Client, value: bytes = GARBAGE) -> None:
    kv = await nc.jetstream().key_value(subjects.LEASE_BUCKET)
    await kv.put(subjects.LEASE_KEY, value)


@pytest.mark.parametrize(
    "value",
    [GARBAGE, b"[1, 2]", b'{"holder": 7}', b'{"holder": "ghost", "since": 0}'],
    ids=["garbage", "list", "wrong-type", "valid-but-no-ttl"],
)
async def test_an_unreadable_holder_is_free_and_lease_holder_says_nobody(
    nc: Client, value: bytes
) -> None:
    lease = KvLease(nc, holder="me", ttl=1)
    await lease.ensure_bucket()
    await poison_key(nc, value)

    assert await lease_holder(nc) is None


async def test_a_replica_takes_over_an_unreadable_holder_with_a_warning(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    lease = KvLease(nc, holder="me", ttl=1)
    await lease.ensure_bucket()
    stop = asyncio.Event()
    task = asyncio.create_task(lease.run(stop))
    try:
        await until(lease.is_leader)
        with caplog.at_level(logging.WARNING, logger="jetcron.log.lease"):
            await poison_key(nc)
            await until(lambda: "treated as free" in caplog.text)
            await asyncio.sleep(1.0)  # a renew or two after the takeover
        assert lease.is_leader() and lease.error == ""
        assert await lease_holder(nc) == "me"
    finally:
        stop.set()
        await task
    [line] = [r.getMessage() for r in caplog.records if "treated as free" in r.getMessage()]
    assert line.startswith("lease ticker: unreadable value (JSON is malformed"), line
    assert f" at {lease.subject} (seq " in line


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    from cli.served import scheduler_in_thread

    yield from scheduler_in_thread(nats_url, service.ServiceConfig(lease_ttl_s=1))


def put_garbage(url: str) -> None:
    async def go() -> None:
        nc = await nats.connect(url)
        await poison_key(nc)
        await nc.close()

    asyncio.run(go())


def test_status_and_health_answer_while_the_key_holds_garbage(scheduler: str) -> None:
    from cli.served import cli

    put_garbage(scheduler)
    status, health = cli(scheduler, "status"), cli(scheduler, "health")

    assert status.exit_code == 0, status.output
    assert health.exit_code in (0, 1), health.output  # 1 until the replica took it back
    assert "malformed" not in status.output + health.output


def test_health_without_a_service_names_no_ticker_not_a_decode_error(nats_url: str) -> None:
    from cli.served import cli

    async def go() -> None:
        nc = await nats.connect(nats_url)
        await KvLease(nc, holder="x").ensure_bucket()
        await poison_key(nc)
        await nc.close()

    asyncio.run(go())
    result = cli(nats_url, "health")

    assert result.exit_code == 3, result.output
    assert "malformed" not in result.output
    assert result.stderr.splitlines()[-1].startswith("no scheduler is ticking"), result.stderr
