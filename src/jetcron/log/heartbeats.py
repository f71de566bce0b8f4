"""Executor heartbeats in a KV bucket with a per-message TTL: the write primitives and who is online.

Each executor puts `ExecutorInfo` JSON under its name with a TTL of a few intervals (per
message, so executors with different intervals share the bucket) and purges its key on a
graceful stop. A key that is present means the executor is alive. The beat loop itself lives
with the executors (`executors/heartbeat.py`); this module is the JetStream side of it.

A name is claimed and kept with compare-and-set: `put(..., expect=rev)` and `remove(...,
expect=rev)` carry `Nats-Expected-Last-Subject-Sequence` (0: the key must be absent), and a
lost race is `ConcurrencyConflict`. No delete markers are kept on expiry, so an expired key
is simply absent; a graceful stop's purge marker lives STOPPED_TTL_S and its revision is the
one to CAS. why it lives that long: the leader records an executor.offline from what it reads
here every few seconds, and the marker is how it tells a stop on purpose from a death.

What a reader believes (`believed`, the one rule for every reader: `list_executors`, `current`):
the key is the name, so a heartbeat whose body names another executor is ignored (an executor
identity may write only its own key, but it writes the body); and a heartbeat counts only while
fresh, its store time within the TTL its executor sets (`ttl_s` of its interval), by the
server's clock. why: a put without `Nats-TTL` never expires; the real executor always sets it,
so one without is held to the TTL it should have had rather than trusted forever.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import APIError, NotFoundError

from jetcron import subjects
from jetcron.log import buckets, placement
from jetcron.log.acks import CONFLICT_CODES
from jetcron.log.api import expect_last, js_api, kv_purge
from jetcron.log.errors import ConcurrencyConflict
from jetcron.log.reader import read_raw

log = logging.getLogger(__name__)

STREAM = subjects.kv_stream(subjects.EXECUTORS_BUCKET)
TTL_INTERVALS = 3
"""A heartbeat lives this many beat intervals: a live executor's key never lapses."""
STOPPED_TTL_S = 300
"""How long a graceful stop's purge marker says "stopped on purpose" (a leader hand-over or a
service restart in between still reads it)."""


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
    problems: list[str] = []
    """What keeps it from running work now, one line each (e.g. `journal unwritable: no
    space left on device on DIR`); [] when fine, and from an executor too old to say."""
    concurrency: int | None = None
    """How many runs it runs at once (`--concurrency`); None: an executor too old to say."""
    ack_wait_s: float | None = None
    """Its `--ack-wait`, which its jobs' supervisors stop a job by (0.3 × this after the
    executor went silent); None: an executor too old to say."""


_decoder = msgspec.json.Decoder(ExecutorInfo)


def ttl_s(interval_s: float) -> int:
    """A heartbeat's TTL in whole seconds (JetStream's unit, at least 1)."""
    return max(1, math.ceil(TTL_INTERVALS * interval_s))


def believed(subject: str, info: ExecutorInfo, seen: datetime | None, now: datetime) -> bool:
    """Whether a heartbeat read under `subject`, stored at `seen`, says its executor is online
    at `now` (server clock): the body's name is the key's, and the beat is within its TTL."""
    if subject != subjects.heartbeat_key(info.name):
        log.warning("ignoring a heartbeat on %s that calls itself %r", subject, info.name)
        return False
    return seen is not None and (now - seen).total_seconds() <= ttl_s(info.interval_s)


def serving(infos: list[ExecutorInfo], target: str) -> list[ExecutorInfo]:
    """The executors of `infos` that take runs of `target` (a name or a tag; `all:X` as X)."""
    pool = target.removeprefix("all:")
    return [i for i in infos if pool in i.targets or pool in i.tags]


def shell_refusal(infos: list[ExecutorInfo], target: str) -> str | None:
    """What the CLI warns (and the API answers in `warnings`) of a shell-string job for
    `target` when an executor online for it refuses shell strings; None when none does.

    why here: one rule for `schedule add` and the HTTP API, next to who is online; the line
    names CLI commands, which the web rewords (web/wording.py).
    """
    refusing = sorted(i.name for i in serving(infos, target) if i.allow_shell is False)
    if not refusing:
        return None
    return (
        f"executor {', '.join(refusing)} of target {target!r} refuses shell strings"
        " (start it with --allow-shell: `jetcron up --allow-shell`, `jetcron executor"
        " --allow-shell`)"
    )


class _StreamInfo(msgspec.Struct):
    """The two fields of a STREAM.INFO reply `server_now` reads."""

    ts: datetime | None = None
    """The server's clock when it answered (nats-py's StreamInfo drops it)."""
    error: dict[str, Any] | None = None


_stream_info = msgspec.json.Decoder(_StreamInfo)


async def server_now(nc: Client) -> datetime | None:
    """The server's clock now, from the bucket's stream info; None if there is no bucket.

    why the server's: heartbeats' store times are the server's, and a reader's clock may be off.
    """
    msg = await nc.request(js_api("STREAM.INFO", STREAM), b"", timeout=5)
    reply = _stream_info.decode(msg.data)
    if reply.error is not None:
        if reply.error.get("code") == 404:
            return None
        APIError.from_error(reply.error)  # why: it raises the error class that fits the code
    # why: a server too old to say (before 2.10); the reader's clock is the best left
    return reply.ts or datetime.now(UTC)


BUCKET_CONFIG = KeyValueConfig(
    bucket=subjects.EXECUTORS_BUCKET, history=1, description="jetcron executors"
)


async def ensure_bucket(nc: Client, replicas: int = 1) -> placement.Scaled:
    """The scheduler's part: create the executors bucket if missing, else check it and raise
    it to `replicas`."""
    return await buckets.ensure(nc, BUCKET_CONFIG.evolve(replicas=replicas))


async def require_bucket(nc: Client) -> None:
    """An executor's part: the bucket as jetcron makes it (BucketMissing under auth until the
    scheduler made it; BucketTampered)."""
    await buckets.require(nc, BUCKET_CONFIG)


async def put(nc: Client, info: ExecutorInfo, ttl_s: int, *, expect: int | None = None) -> int:
    """Store one heartbeat with a TTL; its sequence in the bucket's stream (its revision).

    With `expect`, only if the key's last revision is still that one (0: the key is absent);
    ConcurrencyConflict if another write came first.
    """
    subject = subjects.heartbeat_key(info.name)
    try:
        ack = await nc.jetstream().publish(
            subject, msgspec.json.encode(info), headers=_expecting(expect), msg_ttl=ttl_s
        )
    except APIError as err:
        raise _conflict_or(err, subject, expect) from err
    return int(ack.seq)


def _expecting(expect: int | None) -> dict[str, str] | None:
    """The CAS header (a new dict each time: nats-py adds Nats-TTL to the one it is given)."""
    return None if expect is None else expect_last(expect)


def _conflict_or(err: APIError, subject: str, expect: int | None) -> Exception:
    """A lost compare-and-set as ours (both codes mean it: JETSTREAM_NOTES.md); else `err`."""
    if expect is not None and err.err_code in CONFLICT_CODES:
        return ConcurrencyConflict(subject, expect, f"({err.description})")
    return err


async def stored_at(nc: Client, seq: int) -> datetime | None:
    """The server's store time of a heartbeat (None if unknown)."""
    stored = await nc.jetstream().get_msg(STREAM, seq=seq)
    return stored.time


async def remove(nc: Client, name: str, *, expect: int | None = None) -> None:
    """Purge an executor's key: it is going away on purpose.

    With `expect`, only while the key is still at that revision (ours): ConcurrencyConflict
    if another executor has taken the name since, whose heartbeat must stay.
    """
    # why: a KV purge is a rollup of the key's subject with a marker; the TTL drops the marker.
    subject = subjects.heartbeat_key(name)
    headers = kv_purge() | (_expecting(expect) or {})
    try:
        await nc.jetstream().publish(subject, b"", headers=headers, msg_ttl=STOPPED_TTL_S)
    except APIError as err:
        raise _conflict_or(err, subject, expect) from err


async def current(nc: Client, name: str) -> tuple[int, ExecutorInfo | None]:
    """The key's revision (0: absent) and its live heartbeat with `seen_at` (None: absent,
    purged on a graceful stop, unreadable, or not `believed`): what a compare-and-set claim
    starts from."""
    subject = subjects.heartbeat_key(name)
    try:
        msg = await nc.jetstream().get_last_msg(STREAM, subject)
    except NotFoundError:  # why: no bucket yet, or no live key under that name
        return 0, None
    revision = int(msg.seq or 0)
    if not msg.data:
        return revision, None  # why: a purge marker: it stopped on purpose
    try:
        info = _decoder.decode(msg.data)
    except msgspec.DecodeError as err:
        log.warning("ignoring bad heartbeat of %s: %s", name, err)
        return revision, None
    now = await server_now(nc)
    if now is None or not believed(subject, info, msg.time, now):
        return revision, None
    return revision, msgspec.structs.replace(info, seen_at=msg.time)


async def get(nc: Client, name: str) -> ExecutorInfo | None:
    """One executor's live heartbeat (with `seen_at`), or None if it is not online."""
    return (await current(nc, name))[1]


async def list_executors(nc: Client) -> list[ExecutorInfo]:
    """Every executor with a live heartbeat (`believed`), by name."""
    return (await roster(nc))[0]


async def roster(nc: Client) -> tuple[list[ExecutorInfo], set[str]]:
    """Every executor with a live heartbeat (`believed`), by name, and the names whose key holds
    a purge marker: stopped on purpose within the last STOPPED_TTL_S."""
    now = await server_now(nc)
    if now is None:
        return [], set()
    # why by key: a beat stored while the read runs is read too, after the one it replaced
    infos: dict[str, ExecutorInfo] = {}
    stopped: set[str] = set()
    async for records in read_raw(nc, STREAM, subjects=[subjects.heartbeat_key("*")]):
        for record in records:
            infos.pop(record.subject, None)
            stopped.discard(record.subject)
            if not record.data:
                stopped.add(record.subject)  # why: a purge marker: it stopped on purpose
                continue
            try:
                info = _decoder.decode(record.data)
            except msgspec.DecodeError as err:
                log.warning("skipping bad heartbeat on %s: %s", record.subject, err)
                continue
            seen = datetime.fromtimestamp(record.stored_ns / 1e9, UTC) if record.stored_ns else None
            if believed(record.subject, info, seen, now):
                infos[record.subject] = msgspec.structs.replace(info, seen_at=seen)
    # why disjoint: each key's last record decides (a beat after a marker is a restart)
    return sorted(infos.values(), key=lambda i: i.name), set(map(subjects.heartbeat_name, stopped))


async def online_or_why(nc: Client, timeout: float = 3.0) -> tuple[list[ExecutorInfo] | None, str]:  # noqa: ASYNC109 - a budget
    """list_executors, or None and why the heartbeats cannot be read now.

    why: `status` and `health` answer for their other parts while the executors bucket has no
    leader (a node of an R1 bucket down) instead of failing whole (or timing out) with it.
    """
    try:
        async with asyncio.timeout(timeout):  # why: not wait_for (follow.set_within)
            return await list_executors(nc), ""
    except Exception as err:  # noqa: BLE001 - any failure here is "unknown", said as such
        why = str(err) or type(err).__name__
        return None, f"the heartbeats (KV bucket {subjects.EXECUTORS_BUCKET}) cannot be read: {why}"
