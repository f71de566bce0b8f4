"""Snapshots of folded state in a JetStream object store: a faster start, never the truth."""

from __future__ import annotations

from nats.aio.client import Client
from nats.js.api import ObjectStoreConfig
from nats.js.errors import NotFoundError, ObjectNotFoundError

from jetcron import subjects


async def load(nc: Client, name: str, *, bucket: str = subjects.SNAPSHOT_BUCKET) -> bytes | None:
    """The stored snapshot, or None if there is none yet (other failures raise)."""
    try:
        store = await nc.jetstream().object_store(bucket)
        result = await store.get(name)
    except (NotFoundError, ObjectNotFoundError):
        return None
    return result.data or b""


async def delete(nc: Client, name: str, *, bucket: str = subjects.SNAPSHOT_BUCKET) -> None:
    """Remove a stored object (gone already is fine)."""
    try:
        store = await nc.jetstream().object_store(bucket)
        await store.delete(name)
    except (NotFoundError, ObjectNotFoundError):
        return


async def save(
    nc: Client, name: str, data: bytes, *, bucket: str = subjects.SNAPSHOT_BUCKET
) -> None:
    """Store a snapshot, creating the bucket on first use."""
    js = nc.jetstream()
    try:
        store = await js.object_store(bucket)
    except NotFoundError:
        store = await js.create_object_store(
            bucket, ObjectStoreConfig(description="jetcron projection snapshots")
        )
    await store.put(name, data)
