"""Executor liveness: heartbeats in a KV bucket with a per-message TTL, and who is online.

Each executor puts `ExecutorInfo` JSON under its name every `interval` seconds with a TTL of
three intervals (per message, so executors with different intervals share the bucket),
and purges its key on a graceful stop. A key that is present means the executor is alive.

Clock offset: the executor notes its clock before (t0) and after (t1) a put is acked and
reads back the server's store timestamp ts of that message; ts was taken between t0 and
t1, so `offset = (t0 + t1) / 2 - ts` (host minus server) is off by at most
`(t1 - t0) / 2`, reported as `clock_error_s`. Each heartbeat carries the previous
measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import BadRequestError, NotFoundError

import jetcron
from jetcron import subjects
from jetcron.clock import Clock, SystemClock
from jetcron.executors.admission import HostSampler
from jetcron.scheduler.reader import read_raw

log = logging.getLogger(__name__)

BUCKET = subjects.EXECUTORS_BUCKET
STREAM = f"KV_{BUCKET}"
TTL_INTERVALS = 3


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
    seen_at: datetime | None = None
    """When the server stored this heartbeat (filled in by list_executors)."""


_decoder = msgspec.json.Decoder(ExecutorInfo)


def key_subject(name: str) -> str:
    """The KV subject of an executor's key."""
    return f"$KV.{BUCKET}.{subjects.token(name)}"


async def ensure_bucket(nc: Client) -> None:
    """Create the executors bucket if it is missing (idempotent, race-safe)."""
    js = nc.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.stream_info(STREAM)
        return
    try:
        await js.create_key_value(
            KeyValueConfig(bucket=BUCKET, history=1, description="jetcron executors")
        )
    except BadRequestError:
        await js.stream_info(STREAM)  # why: another executor created it at the same moment


class Heartbeat:
    """Puts one executor's ExecutorInfo every `interval` seconds until stopped."""

    def __init__(
        self,
        nc: Client,
        identity: ExecutorInfo,
        *,
        running: Callable[[], list[str]],
        sampler: HostSampler | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.identity = msgspec.structs.replace(
            identity, version=jetcron.__version__, pid=os.getpid(), hostname=socket.gethostname()
        )
        self.running = running
        self.sampler = sampler or HostSampler()
        self.clock = clock or SystemClock()
        self.ttl_s = max(1, math.ceil(TTL_INTERVALS * identity.interval_s))
        self.offset: tuple[float, float] | None = None
        self._bucket_ready = False

    async def run(self, stop: asyncio.Event) -> None:
        """Beat until `stop`, then remove the key."""
        await self._beat_safely()  # why: the next one, right away, carries the measured offset
        try:
            while not stop.is_set():
                await self._beat_safely()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.identity.interval_s)
        finally:
            await self.remove()

    async def _beat_safely(self) -> None:
        try:
            await self.beat()
        except Exception as err:  # noqa: BLE001 - liveness must never stop the executor
            log.warning("heartbeat of %s failed: %s", self.identity.name, err)

    async def beat(self) -> None:
        """Put one heartbeat and measure the clock offset with it."""
        if not self._bucket_ready:
            await ensure_bucket(self.nc)
            self._bucket_ready = True
        sample = await asyncio.to_thread(self.sampler.sample)
        offset, error = self.offset if self.offset is not None else (None, None)
        t0 = self.clock.now()
        info = msgspec.structs.replace(
            self.identity,
            running=self.running(),
            cpu_percent=sample.cpu_percent,
            memory_percent=sample.memory_percent,
            load=sample.load_per_core,
            host_time=t0,
            clock_offset_s=offset,
            clock_error_s=error,
        )
        ack = await self.js.publish(
            key_subject(info.name), msgspec.json.encode(info), msg_ttl=self.ttl_s
        )
        t1 = self.clock.now()
        stored = await self.js.get_msg(STREAM, seq=ack.seq)
        if stored.time is not None:
            midpoint = t0 + (t1 - t0) / 2
            self.offset = ((midpoint - stored.time).total_seconds(), (t1 - t0).total_seconds() / 2)

    async def remove(self) -> None:
        """Purge our key (best effort): we are going away on purpose."""
        headers = {"KV-Operation": "PURGE", "Nats-Rollup": "sub"}
        try:
            await self.js.publish(key_subject(self.identity.name), b"", headers=headers, msg_ttl=1)
        except Exception as err:  # noqa: BLE001 - the TTL removes it anyway
            log.warning("could not remove heartbeat of %s: %s", self.identity.name, err)


async def list_executors(nc: Client) -> list[ExecutorInfo]:
    """Every executor with a live heartbeat, by name."""
    try:
        await nc.jetstream().stream_info(STREAM)
    except NotFoundError:
        return []
    infos: list[ExecutorInfo] = []
    async for records in read_raw(nc, STREAM, subjects=[f"$KV.{BUCKET}.>"]):
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
