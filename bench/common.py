"""Shared benchmark plumbing: a throwaway nats-server, realistic payloads, raw nats-py baselines."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import nats
import psutil
from nats.aio.client import Client
from nats.aio.msg import Msg

from jetcron import ids, subjects
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, StoredEvent, encode
from jetcron.domain.events import RunTriggered, ScheduleCreated
from jetcron.log.stream import EventLog
from jetcron.server import NatsServer

T = TypeVar("T")
PENDING_SIZE = 64 * 1024 * 1024
"""Client write buffer: large, so publishing never stalls on it (JETSTREAM_NOTES.md)."""
TICKER_ACTOR = "system:ticker"

# ---------------------------------------------------------------- server and connection


@contextlib.asynccontextmanager
async def nats_server(tag: str) -> AsyncIterator[NatsServer]:
    """A fresh nats-server with JetStream on a random port and a temp store; removed after."""
    tmp = Path(tempfile.mkdtemp(prefix=f"jetcron-bench-{tag}-"))
    # why: start() from the main thread (PDEATHSIG is tied to the thread that spawned it).
    server = NatsServer(data_dir=tmp / "nats", port=-1).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[Client]:
    """A nats-py connection tuned for bulk work; closed after."""
    nc = await nats.connect(url, pending_size=PENDING_SIZE, max_reconnect_attempts=0)
    try:
        yield nc
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


@contextlib.asynccontextmanager
async def event_log(tag: str) -> AsyncIterator[tuple[NatsServer, Client, EventLog]]:
    """Server, connection and an opened EventLog (JETCRON stream created)."""
    async with nats_server(tag) as server, connected(server.url) as nc:
        log = await EventLog(nc).open()
        try:
            yield server, nc, log
        finally:
            await log.close()


# ---------------------------------------------------------------- payloads


def now() -> datetime:
    """Wall-clock time, aware UTC."""
    return datetime.now(UTC)


def sample_job(i: int) -> Job:
    """A realistic job: an argv command with a couple of arguments."""
    return Job(
        command=["/usr/local/bin/rebalance", "--pool", f"pool-{i % 17}", "--max-moves", "50"]
    )


def trigger_envelope(
    i: int,
    fire_time: datetime,
    *,
    target: str = "default",
    job: Job | None = None,
    name: str | None = None,
) -> Envelope:
    """A RunTriggered envelope shaped like the ticker's (same fields, ids, actor)."""
    name = name or f"job-{i}"
    schedule_id = ids.derived_id("schedule", name, f"create-{name}")
    fire = ids.fire_id(schedule_id, 1, fire_time)
    event = RunTriggered(
        schedule_id=schedule_id,
        name=name,
        fire_id=fire,
        fire_time=fire_time,
        run_id=ids.run_id_for(fire),
        version=1,
        target=target,
        job=job or sample_job(i),
        timeout_s=3600.0,
    )
    return Envelope(
        id=ids.new_id(), at=fire_time, actor=TICKER_ACTOR, event=event, causation_id=fire
    )


def created_envelope(name: str, definition: ScheduleDefinition, at: datetime) -> Envelope:
    """A ScheduleCreated envelope exactly as the command handler makes it."""
    command_id = f"create-{name}"
    event = ScheduleCreated(
        schedule_id=ids.derived_id("schedule", name, command_id),
        name=name,
        version=1,
        definition=definition,
    )
    return Envelope(
        id=ids.new_id(),
        at=at,
        actor="bench",
        causation_id=command_id,
        correlation_id=command_id,
        event=event,
    )


async def publish_all(
    log: EventLog, items: Iterable[tuple[str, Envelope]], workers: int = 8192
) -> float:
    """Append every (subject, envelope) with EventLog.publish from a pool of tasks; seconds."""
    it = iter(items)

    async def worker() -> None:
        for subject, envelope in it:
            await log.publish(subject, envelope)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(worker())
    return time.perf_counter() - started


async def create_schedules(
    log: EventLog,
    definitions: Iterable[tuple[str, ScheduleDefinition]],
    at: datetime | None = None,
    *,
    bulk: bool = False,
) -> int:
    """Append ScheduleCreated for each (name, definition) straight to the log; returns the count.

    bulk=True writes the very bytes and Nats-Msg-Id header EventLog.publish would, through the
    raw pipelined publisher: only for setting up big logs quickly, never for a timed append.
    """
    at = at or now()
    items = [(subjects.schedule(name), created_envelope(name, d, at)) for name, d in definitions]
    if not bulk:
        await publish_all(log, items)
        return len(items)
    async with RawPublisher(log.nc) as pub:
        count, _ = await pub.run((s, encode(e), {"Nats-Msg-Id": e.id}) for s, e in items)
    return count


async def read_events(
    log: EventLog, *, subjects_: Sequence[str] | None = None
) -> list[StoredEvent]:
    """Every stored event (optionally on some subjects), in log order."""
    out: list[StoredEvent] = []
    async for batch in log.read(subjects=subjects_):
        out.extend(batch)
    return out


# ---------------------------------------------------------------- raw nats-py baselines


class RawPublisher:
    """The fastest acked JetStream publishing nats-py allows: one wildcard reply inbox,
    a bounded in-flight window, acks counted in the callback (no futures, no parsing)."""

    def __init__(self, nc: Client, window: int = 20_000) -> None:
        self.nc = nc
        self.window = asyncio.Semaphore(window)
        self.acked = 0
        self.errors = 0
        self.first_error = ""
        self._target = -1
        self._done = asyncio.Event()
        self._prefix = ""
        self._sub: Any = None

    async def __aenter__(self) -> RawPublisher:
        self._prefix = self.nc.new_inbox() + "."
        self._sub = await self.nc.subscribe(self._prefix + "*", cb=self._on_ack)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._sub.unsubscribe()

    async def _on_ack(self, msg: Msg) -> None:
        self.acked += 1
        if b'"error"' in msg.data:
            self.errors += 1
            self.first_error = self.first_error or msg.data.decode(errors="replace")
        self.window.release()
        if self.acked == self._target:
            self._done.set()

    async def run(
        self, messages: Iterable[tuple[str, bytes, dict[str, str] | None]], timeout: float = 120.0
    ) -> tuple[int, float]:
        """Publish all messages, wait for every ack; (count, seconds)."""
        self.acked, self._target = 0, -1
        self._done.clear()
        publish, prefix, acquire = self.nc.publish, self._prefix, self.window.acquire
        sent = 0
        started = time.perf_counter()
        for subject, data, headers in messages:
            await acquire()
            await publish(subject, data, reply=prefix + str(sent), headers=headers)
            sent += 1
        self._target = sent
        if self.acked < sent:
            await asyncio.wait_for(self._done.wait(), timeout)
        elapsed = time.perf_counter() - started
        if self.errors:
            raise RuntimeError(f"{self.errors} publishes rejected, first: {self.first_error}")
        return sent, elapsed


async def bulk_write(
    nc: Client, messages: Iterable[tuple[str, bytes]], *, every: int = 1000, window: int = 16
) -> int:
    """Store many messages fast, for setting up big logs only: a plain publish, with a reply
    asked on every `every`-th message only, and at most `window` of those outstanding.

    why: a stream stores in arrival order, so one ack vouches for the messages before it and
    bounds what is in flight (unbounded publishing makes the server drop). Returns the count;
    the caller checks the stream's last sequence, since a lone message could still be lost.
    """
    async with RawPublisher(nc, window) as pub:
        publish, prefix, acquire = nc.publish, pub._prefix, pub.window.acquire
        sent = asked = 0
        for subject, data in messages:
            sent += 1
            if sent % every:
                await publish(subject, data)
                continue
            await acquire()
            await publish(subject, data, reply=prefix + str(asked))
            asked += 1
        pub._target = asked
        if pub.acked < asked:
            await asyncio.wait_for(pub._done.wait(), 120)
        await nc.flush()
    if pub.errors:
        raise RuntimeError(f"{pub.errors} publishes rejected, first: {pub.first_error}")
    return sent


_envelope_decoder = msgspec.json.Decoder(Envelope)


async def raw_replay(nc: Client, stream: str, *, batch: int = 20_000) -> tuple[int, float]:
    """Plain read + msgspec decode of a whole stream: an ephemeral AckNone consumer and our own
    MSG.NEXT requests (two in flight, refilled from the callback). (events, seconds)."""
    api = f"$JS.API.CONSUMER.CREATE.{stream}"
    config = {
        "deliver_policy": "all",
        "ack_policy": "none",
        "mem_storage": True,
        "inactive_threshold": 30_000_000_000,
        "num_replicas": 1,
    }
    started = time.perf_counter()
    reply = json.loads(
        (
            await nc.request(
                api, json.dumps({"stream_name": stream, "config": config}).encode(), timeout=5
            )
        ).data
    )
    name, total = reply["name"], int(reply["num_pending"])
    inbox = nc.new_inbox()
    next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}"
    body = json.dumps({"batch": batch, "expires": 5_000_000_000}).encode()
    done = asyncio.Event()
    state = {"n": 0, "last_seq": 0}
    decode = _envelope_decoder.decode

    async def on_msg(msg: Msg) -> None:
        if not msg.reply:
            return  # a status (timeout) message
        decode(msg.data)
        state["last_seq"] = int(msg.reply.split(".")[-4])
        state["n"] += 1
        if state["n"] % batch == 0:
            await nc.publish(next_subject, body, reply=inbox)
        if state["n"] >= total:
            done.set()

    sub = await nc.subscribe(inbox, cb=on_msg, pending_msgs_limit=4 * batch)
    await nc.publish(next_subject, body, reply=inbox)
    await nc.publish(next_subject, body, reply=inbox)
    try:
        if total:
            await asyncio.wait_for(done.wait(), 600)
    finally:
        await sub.unsubscribe()
    elapsed = time.perf_counter() - started
    with contextlib.suppress(Exception):
        await nc.request(f"$JS.API.CONSUMER.DELETE.{stream}.{name}", b"", timeout=2)
    return state["n"], elapsed


# ---------------------------------------------------------------- measuring


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) with linear interpolation; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class CpuMeter:
    """CPU seconds used by this process and by the nats-server while the block runs.

    why: the machine has 2 cores shared with other work; CPU per event is steadier than wall rate.
    """

    def __init__(self, server: NatsServer | None = None) -> None:
        self._server = psutil.Process(server.pid) if server is not None and server.pid else None
        self.client_s = 0.0
        self.server_s = 0.0
        self.wall_s = 0.0

    def _server_cpu(self) -> float:
        if self._server is None:
            return 0.0
        t = self._server.cpu_times()
        return float(t.user + t.system)

    def __enter__(self) -> CpuMeter:
        self._c0, self._s0, self._w0 = time.process_time(), self._server_cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client_s = time.process_time() - self._c0
        self.server_s = self._server_cpu() - self._s0
        self.wall_s = time.perf_counter() - self._w0

    def us_per(self, n: int) -> tuple[float | None, float | None]:
        """(client, server) CPU microseconds per item."""
        if n <= 0:
            return None, None
        return round(self.client_s / n * 1e6, 2), round(self.server_s / n * 1e6, 2)


def load_average() -> float:
    """The 1-minute load average (other work on the machine skews every figure)."""
    return round(psutil.getloadavg()[0], 2)


def rss_mib() -> float:
    """Resident memory of this process, MiB (after a full collection)."""
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def rnd(x: float | None, digits: int = 3) -> float | None:
    """Round for the report, keeping None."""
    return None if x is None else round(x, digits)


def per_s(count: int, seconds: float) -> float | None:
    """A rate, None if nothing was timed."""
    return None if seconds <= 0 else count / seconds


async def wait_until(check: Callable[[], bool], timeout: float, poll: float = 0.01) -> bool:
    """Poll `check` until true or the timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(poll)
    return True


async def sleep_until(when: datetime) -> None:
    """Sleep until a wall-clock instant."""
    delay = (when - now()).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)


def next_whole_second(lead_s: float) -> datetime:
    """The first whole second at least `lead_s` from now."""
    t = now() + timedelta(seconds=lead_s)
    return t.replace(microsecond=0) + timedelta(seconds=1)


def epoch_ns(when: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (exact)."""
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


async def timed(coro: Awaitable[T]) -> tuple[T, float]:
    """(result, seconds) of awaiting coro."""
    started = time.perf_counter()
    result = await coro
    return result, time.perf_counter() - started
