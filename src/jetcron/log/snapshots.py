"""Snapshots of folded state in a JetStream object store: a faster start, never the truth."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import msgspec
from nats.aio.client import Client
from nats.js.api import ObjectInfo, ObjectStoreConfig
from nats.js.errors import APIError, NotFoundError, ObjectDeletedError, ObjectNotFoundError

from jetcron import subjects
from jetcron.log import placement
from jetcron.log.reader import read_raw

log = logging.getLogger(__name__)
CHUNK_BATCH = 32
"""Object chunks (128 KiB) per pull: 4 MiB. why: 256 (32 MiB) made nats-server cut the client
off as a slow consumer."""
T = TypeVar("T")


def unpack(data: bytes, header: bytes, decoder: msgspec.msgpack.Decoder[T]) -> T | None:
    """The record in `header + msgpack` bytes; None if of another version (header) or unreadable."""
    if not data.startswith(header):
        return None
    try:
        return decoder.decode(memoryview(data)[len(header) :])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def load_checkpoint(nc: Client, name: str) -> bytes | None:
    """A fold's stored checkpoint; None (said in the log) when there is none or it cannot be read.

    why: no checkpoint means a longer start from sequence 1, never an outage.
    """
    try:
        return await load(nc, name)
    except Exception as err:  # noqa: BLE001 - see why
        log.warning("%s checkpoint unavailable (%s); reading the log from the start", name, err)
        return None


async def load(nc: Client, name: str, *, bucket: str = subjects.SNAPSHOT_BUCKET) -> bytes | None:
    """The stored snapshot, or None if there is none yet (other failures raise)."""
    try:
        store = await nc.jetstream().object_store(bucket)
        info = await store.get_info(name)
    except (NotFoundError, ObjectNotFoundError, ObjectDeletedError):
        return None
    data = await _chunks(nc, bucket, info)
    if data is not None:
        return data
    try:
        await store.get_info(name)
    except (NotFoundError, ObjectNotFoundError, ObjectDeletedError):
        # why: deleted while we read (a `state` answer's time ran out); nats-py's get would
        # wait forever for the chunks the delete purged
        return None
    # why: without `writeinto`, nats-py's ObjectStore.get appends each 128 KiB chunk to a bytes
    # object (`data += chunk`), quadratic in the size: a 90 MB snapshot took ~75 s to load.
    into = io.BytesIO()
    try:
        await store.get(name, writeinto=into)
    except (NotFoundError, ObjectNotFoundError, ObjectDeletedError):
        return None
    return into.getvalue()


async def _chunks(nc: Client, bucket: str, info: ObjectInfo) -> bytes | None:
    """The object's chunks read with the log's raw reader; None unless size and digest match.

    why: nats-py's get (an ordered push consumer with flow control) sat idle waiting for the
    server most of the time: 185 MiB in 3.3 s; pulled CHUNK_BATCH at a time, 0.6 s.
    """
    parts: list[bytes] = []
    digest = hashlib.sha256()
    chunk_subject = f"$O.{bucket}.C.{info.nuid}"
    stream = subjects.object_stream(bucket)
    async for records in read_raw(nc, stream, subjects=[chunk_subject], batch=CHUNK_BATCH):
        for record in records:
            parts.append(record.data)
            digest.update(record.data)
    data = b"".join(parts)
    expected = info.digest or ""
    got = "SHA-256=" + base64.urlsafe_b64encode(digest.digest()).decode()
    if len(data) != (info.size or 0) or (expected and got != expected):
        log.info(
            "snapshot %s: chunk read incomplete (%d of %s bytes); reading it again",
            info.name,
            len(data),
            info.size,
        )
        return None
    return data


async def delete(nc: Client, name: str, *, bucket: str = subjects.SNAPSHOT_BUCKET) -> None:
    """Remove a stored object (gone already is fine)."""
    try:
        store = await nc.jetstream().object_store(bucket)
        await store.delete(name)
    except (NotFoundError, ObjectNotFoundError):
        return


async def names(nc: Client, *, bucket: str = subjects.SNAPSHOT_BUCKET) -> list[str]:
    """The names of the objects stored (none: an empty list)."""
    try:
        store = await nc.jetstream().object_store(bucket)
        return [info.name for info in await store.list(ignore_deletes=True) if info.name]
    except (NotFoundError, ObjectNotFoundError):
        return []


def store_config(replicas: int = 1) -> ObjectStoreConfig:
    """How jetcron makes its snapshot store."""
    return ObjectStoreConfig(description="jetcron projection snapshots", replicas=replicas)


async def ensure_store(
    nc: Client, replicas: int = 1, *, bucket: str = subjects.SNAPSHOT_BUCKET
) -> placement.Scaled:
    """The scheduler's part, at its start: create the store with `replicas`, or raise an
    existing one to it (why: checkpoints on one node stall every fold's checkpoint with it)."""
    try:
        await nc.jetstream().object_store(bucket)
    except NotFoundError:
        try:
            await nc.jetstream().create_object_store(bucket, store_config(replicas))
        except APIError as err:
            if placement.unplaceable(err):
                raise placement.refused_creation(
                    nc, subjects.object_stream(bucket), replicas, err
                ) from None
            raise
        return placement.Scaled(replicas, replicas)
    return await placement.raise_to(
        nc, subjects.object_stream(bucket), replicas, asked=False, say=False
    )


async def save(
    nc: Client, name: str, data: bytes, *, bucket: str = subjects.SNAPSHOT_BUCKET
) -> None:
    """Store a snapshot, creating the store on first use (R1: the scheduler's ensure_store made
    it with the log's replicas, and raises one made here at its next start)."""
    js = nc.jetstream()
    try:
        store = await js.object_store(bucket)
    except NotFoundError:
        store = await js.create_object_store(bucket, store_config())
    await store.put(name, data)


class Cadence:
    """When a fold stores its next snapshot: after `every` events, and never spending more than
    about `share` of its time on snapshots.

    why: a snapshot is the whole state, so its cost grows with the state; taken every N events
    a large state (hundreds of thousands of runs kept) spent most of a catch-up encoding and
    storing itself (measured: serve folded ~3,500 events/s at 1M events). Waiting (1/share - 1)
    times the last snapshot's cost before the next bounds that to `share` whatever the size.
    """

    def __init__(
        self, every: int, *, share: float = 0.1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every, self.share, self.clock = every, share, clock
        self.since = 0
        """Events folded since the last snapshot."""
        self._not_before = 0.0

    def folded(self, events: int) -> bool:
        """Count folded events; True when a snapshot is due."""
        self.since += events
        return self.since >= self.every and self.clock() >= self._not_before

    def taken(self, started: float) -> None:
        """A snapshot that began at `started` (the clock's time) is stored."""
        now = self.clock()
        self.since = 0
        self._not_before = now + (now - started) * (1 / self.share - 1)
