"""Executor heartbeats in a KV bucket with a per-message TTL: the write primitives and who is online.

Each executor puts `ExecutorInfo` JSON under its name with a TTL of a few intervals (per
message, so executors with different intervals share the bucket) and purges its key on a
graceful stop. A key that is present means the executor is alive. The beat loop itself lives
with the executors (`executors/heartbeat.py`); this module is the JetStream side of it.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime

import msgspec
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import BadRequestError, NotFoundError

from jetcron import subjects
from jetcron.log.api import kv_purge
from jetcron.log.reader import read_raw

log = logging.getLogger(__name__)

STREAM = subjects.kv_stream(subjects.EXECUTORS_BUCKET)


class ExecutorInfo(msgspec.Struct, kw_only=True):
    """One executor's heartbeat."""

    name: str
    targets: list[str] = []
    tags: list[str] = []
    version: str = ""
    pid: int = 0
    hostname: str = ""
    running: list[str] = []
    """Run ids it is working on."""
    actions: list[str] = []
    """Names of the actions it can run (built-ins and installed `jetcron.actions` plugins)."""
    action_params: dict[str, list[str]] = {}
    """Each action's parameters: `name` (required) or `name=default`."""
    cpu_percent: float | None = None
    memory_percent: float | None = None
    load: float | None = None
    """1-minute load average per core."""
    started_at: datetime | None = None
    host_time: datetime | None = None
    """The executor's clock when it sent this heartbeat."""
    clock_offset_s: float | None = None
    """Host clock minus server clock (positive: the host runs ahead), ± clock_error_s."""
    clock_error_s: float | None = None
    interval_s: float = 5.0
    allow_shell: bool | None = None
    """Whether it runs shell-string jobs (--allow-shell); None: an executor too old to say."""
    seen_at: datetime | None = None
    """When the server stored this heartbeat (filled in by list_executors)."""


_decoder = msgspec.json.Decoder(ExecutorInfo)


async def ensure_bucket(nc: Client) -> None:
    """Create the executors bucket if it is missing (idempotent, race-safe)."""
    js = nc.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.stream_info(STREAM)
        return
    try:
        await js.create_key_value(
            KeyValueConfig(
                bucket=subjects.EXECUTORS_BUCKET, history=1, description="jetcron executors"
            )
        )
    except BadRequestError:
        await js.stream_info(STREAM)  # why: another executor created it at the same moment


async def put(nc: Client, info: ExecutorInfo, ttl_s: int) -> int:
    """Store one heartbeat with a TTL; its sequence in the bucket's stream."""
    ack = await nc.jetstream().publish(
        subjects.heartbeat_key(info.name), msgspec.json.encode(info), msg_ttl=ttl_s
    )
    return int(ack.seq)


async def stored_at(nc: Client, seq: int) -> datetime | None:
    """The server's store time of a heartbeat (None if unknown)."""
    stored = await nc.jetstream().get_msg(STREAM, seq=seq)
    return stored.time


async def remove(nc: Client, name: str) -> None:
    """Purge an executor's key: it is going away on purpose."""
    # why: a KV purge is a rollup of the key's subject with a marker; the TTL drops the marker.
    await nc.jetstream().publish(subjects.heartbeat_key(name), b"", headers=kv_purge(), msg_ttl=1)


async def get(nc: Client, name: str) -> ExecutorInfo | None:
    """One executor's live heartbeat (with `seen_at`), or None if it is not online."""
    try:
        msg = await nc.jetstream().get_last_msg(STREAM, subjects.heartbeat_key(name))
    except NotFoundError:  # why: no bucket yet, or no live key under that name
        return None
    if not msg.data:
        return None  # why: a purge marker: it stopped on purpose
    try:
        info = _decoder.decode(msg.data)
    except msgspec.DecodeError as err:
        log.warning("ignoring bad heartbeat of %s: %s", name, err)
        return None
    return msgspec.structs.replace(info, seen_at=msg.time)


async def list_executors(nc: Client) -> list[ExecutorInfo]:
    """Every executor with a live heartbeat, by name."""
    try:
        await nc.jetstream().stream_info(STREAM)
    except NotFoundError:
        return []
    infos: list[ExecutorInfo] = []
    async for records in read_raw(nc, STREAM, subjects=[subjects.heartbeat_key("*")]):
        for record in records:
            if not record.data:
                continue  # why: a purge marker: that executor stopped on purpose
            try:
                info = _decoder.decode(record.data)
            except msgspec.DecodeError as err:
                log.warning("skipping bad heartbeat on %s: %s", record.subject, err)
                continue
            seen = datetime.fromtimestamp(record.stored_ns / 1e9, UTC) if record.stored_ns else None
            infos.append(msgspec.structs.replace(info, seen_at=seen))
    return sorted(infos, key=lambda i: i.name)
