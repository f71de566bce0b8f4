"""Snapshot objects: stored and loaded whole, through the raw chunk reader or nats-py's get."""

from __future__ import annotations

import os

import pytest
from nats.aio.client import Client

from jetcron import subjects
from jetcron.log import snapshots

SIZE = 5 * 128 * 1024 + 17  # why: several whole chunks and a short last one


async def test_a_snapshot_loads_back_byte_for_byte(nc: Client) -> None:
    data = os.urandom(SIZE)
    assert await snapshots.load(nc, "views") is None  # no bucket yet
    await snapshots.save(nc, "views", data)
    assert await snapshots.load(nc, "views") == data
    assert await snapshots.load(nc, "other") is None
    await snapshots.save(nc, "views", b"")
    assert await snapshots.load(nc, "views") == b""
    await snapshots.delete(nc, "views")
    assert await snapshots.load(nc, "views") is None


async def test_a_chunk_read_that_does_not_match_the_digest_is_read_again(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(SIZE)
    await snapshots.save(nc, "views", data)
    store = await nc.jetstream().object_store(subjects.SNAPSHOT_BUCKET)
    info = await store.get_info("views")
    info.digest = "SHA-256=" + "A" * 43 + "="  # what a chunk lost in transit would give
    assert await snapshots._chunks(nc, subjects.SNAPSHOT_BUCKET, info) is None
    monkeypatch.setattr(snapshots, "CHUNK_BATCH", 1)
    assert await snapshots.load(nc, "views") == data
