"""Who makes the KV buckets, against a real secured nats-server: only the scheduler; a user
before it is told to start it, and a bucket not as jetcron makes it is refused by everyone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import NotFoundError
from secured import Secured, started

from jetcron import subjects
from jetcron.log import buckets, heartbeats, secrets
from jetcron.log.api import js_api
from jetcron.log.buckets import BucketMissing, BucketTampered
from jetcron.service_steps import ensure_buckets

LEAK = f"{subjects.inbox_prefix('alice')}.leak"


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    yield from started(tmp_path)


def planted(bucket: str, *extra: str) -> bytes:
    """A bucket's stream as a planter would make it: KV-like, plus a republish to its own
    inbox and maybe other subjects (others' inboxes) it captures too."""
    return json.dumps(
        {
            "name": subjects.kv_stream(bucket),
            "subjects": [subjects.kv_key(bucket, ">"), *extra],
            "max_msgs_per_subject": 1,
            "allow_rollup_hdrs": True,
            "deny_delete": True,
            "allow_direct": True,
            "storage": "file",
            "republish": {"src": ">", "dest": f"{LEAK}.>"},
        }
    ).encode()


async def exists(nc: Client, bucket: str) -> bool:
    try:
        await nc.jetstream().stream_info(subjects.kv_stream(bucket))
    except NotFoundError:
        return False
    return True


@pytest.mark.parametrize(
    ("user", "bucket"),
    [
        ("alice", subjects.SECRETS_BUCKET),
        ("alice", subjects.HOOK_SECRETS_BUCKET),
        ("host-a", subjects.EXECUTORS_BUCKET),
    ],
)
async def test_no_operator_or_executor_may_create_a_buckets_stream(
    sec: Secured, user: str, bucket: str
) -> None:
    nc = await sec.client(user)
    subject = js_api("STREAM.CREATE", subjects.kv_stream(bucket))
    error = await sec.violation(user, lambda: nc.request(subject, planted(bucket), timeout=0.5))
    assert f'"{subject.lower()}"' in error.lower()
    admin = await sec.client("admin")
    assert not await exists(admin, bucket)
    await admin.close()
    await nc.close()


async def test_before_the_scheduler_a_user_is_told_to_start_it(sec: Secured) -> None:
    alice, host_a = await sec.client("alice"), await sec.client("host-a")
    for attempt in (
        secrets.put(alice, "host-a", "db", "v"),
        secrets.put_hook_secret(alice, "k", "v"),
        heartbeats.require_bucket(host_a),
    ):
        with pytest.raises(BucketMissing, match="does not exist yet: start the scheduler first"):
            await attempt
    scheduler = await sec.client("scheduler")
    await ensure_buckets(scheduler)
    await ensure_buckets(scheduler)  # why: idempotent, as every replica calls it at its start
    await secrets.put(alice, "host-a", "db", "v")
    await secrets.put_hook_secret(alice, "k", "v")
    await heartbeats.require_bucket(host_a)
    assert await secrets.get(host_a, "host-a", "db") == "v"
    assert sec.errors["alice"] == sec.errors["host-a"] == sec.errors["scheduler"] == []
    for nc in (alice, host_a, scheduler):
        await nc.close()


async def test_a_planted_secrets_bucket_is_refused_and_leaks_nothing(sec: Secured) -> None:
    # the admin stands for an operator who planted it before operators lost STREAM.CREATE
    admin = await sec.client("admin")
    bucket = subjects.SECRETS_BUCKET
    await admin.request(js_api("STREAM.CREATE", subjects.kv_stream(bucket)), planted(bucket))
    alice = await sec.client("alice")
    leaked = await alice.subscribe(f"{LEAK}.>")
    with pytest.raises(BucketTampered, match=f"republishes to {LEAK}"):
        await secrets.put(alice, "host-a", "db", "AliceDbPassw0rd")
    scheduler = await sec.client("scheduler")
    with pytest.raises(BucketTampered, match="An admin should inspect it"):
        await ensure_buckets(scheduler)
    await asyncio.sleep(0.2)
    assert leaked.pending_msgs == 0
    for nc in (admin, alice, scheduler):
        await nc.close()


@pytest.mark.parametrize(
    ("bucket", "user"),
    [(subjects.HOOK_SECRETS_BUCKET, "alice"), (subjects.EXECUTORS_BUCKET, "host-a")],
)
async def test_a_bucket_capturing_other_inboxes_is_refused(
    sec: Secured, bucket: str, user: str
) -> None:
    admin = await sec.client("admin")
    inbox = f"{subjects.inbox_prefix('host-b')}.>"
    await admin.request(js_api("STREAM.CREATE", subjects.kv_stream(bucket)), planted(bucket, inbox))
    scheduler, nc = await sec.client("scheduler"), await sec.client(user)
    with pytest.raises(BucketTampered, match=f"subjects .*{inbox}"):
        await ensure_buckets(scheduler)
    with pytest.raises(BucketTampered):
        await buckets.require(nc, KeyValueConfig(bucket=bucket))
    for client in (admin, scheduler, nc):
        await client.close()
