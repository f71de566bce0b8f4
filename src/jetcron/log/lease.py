"""Leader election for the ticker: one key with a TTL in a JetStream KV bucket, renewed with CAS.

why: a deposed leader's renew fails with "wrong last sequence" (fenced), and the key's
TTL frees it when the leader dies. No delete markers are kept, so a free key is simply
absent and `Nats-Expected-Last-Subject-Sequence: 0` takes it (JETSTREAM_NOTES.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Protocol

import msgspec
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from jetcron import ids, subjects
from jetcron.log import buckets, placement
from jetcron.log.api import expect_last, js_api
from jetcron.log.connection import answering
from jetcron.log.errors import STORAGE, AppendFailed, ConcurrencyConflict, LogFull
from jetcron.log.follow import rest, set_within
from jetcron.log.gaps import GAPS, no_leader
from jetcron.log.publisher import Publisher
from jetcron.log.tenures import Tenures

log = logging.getLogger(__name__)


class Leadership(Protocol):
    """What the ticker asks: am I the leader, and tell me when that changes."""

    def is_leader(self) -> bool: ...

    changed: asyncio.Event


class SoloLease:
    """Always the leader: one scheduler, tests."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()

    def is_leader(self) -> bool:
        return True


class Holder(msgspec.Struct, frozen=True):
    """The lease's value: who holds it, since when, and which process of that name."""

    holder: str
    since: float
    token: str = ""
    """Unique per process (empty from a replica too old to write one).

    why: two replicas started with the same --instance both renewed a lease holding their
    name, so both ticked; the token tells them apart."""


_holder_decoder = msgspec.json.Decoder(Holder)


class KvLease:
    """A TTL lease on `$KV.<bucket>.<key>`; `run()` keeps trying to take or renew it."""

    def __init__(
        self,
        nc: Client,
        *,
        holder: str,
        ttl: int = 5,
        key: str = subjects.LEASE_KEY,
        bucket: str = subjects.LEASE_BUCKET,
        replicas: int = 1,
    ) -> None:
        self.nc, self.js = nc, nc.jetstream()
        self.holder, self.ttl, self.key, self.bucket = holder, max(1, int(ttl)), key, bucket
        self.replicas = replicas
        self.subject = subjects.kv_key(bucket, key)
        self.stream = subjects.kv_stream(bucket)
        self.changed = asyncio.Event()
        self._valid_until = 0.0
        self._seq = 0
        self._since = 0.0
        self._announced = False
        self._denied = False
        self.started = 0.0
        """Wall time of this replica's first look at the key (0: not looked yet)."""
        self.last_held = 0.0
        """Wall time this replica last saw the key held, by itself or another (0: never)."""
        self.error = ""
        """Why this replica's last attempt could not take or renew the lease ("" if it did)."""
        self.looked = asyncio.Event()
        """Set after the first attempt: until then "nobody holds it" may just mean "not yet"."""
        self.token = ids.new_id()
        self._twins: dict[str, int] = {}
        """Other processes seen holding the lease under our name: token -> the revision first
        seen (-1 once said)."""
        self._publisher = Publisher(nc, window=4, ack_timeout=max(1.0, self.ttl / 3))
        self._full_at: int | None = None
        """The key's revision when our write was refused for want of storage (None: not)."""
        self.tenures = Tenures(holder)
        """Who this replica saw hold the lease when (the ticker's late_cause reads them)."""

    def is_leader(self) -> bool:
        """True while connected and our last renew is fresh enough that nobody else holds the key.

        why connected too: while NATS is unreachable nothing we decide can be stored now, and
        what nats-py buffers for later would land after another replica took over.
        """
        leading = self.nc.is_connected and time.monotonic() < self._valid_until
        if not leading:
            self._denied = True  # why: whoever heard "no" waits on `changed` for a "yes"
        return leading

    async def ensure_bucket(self) -> placement.Scaled:
        """Create the KV stream (per-message TTL allowed) with `replicas`, or raise an existing
        one to it; idempotently."""
        config = StreamConfig(
            name=self.stream,
            subjects=[subjects.kv_key(self.bucket, ">")],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            max_msgs_per_subject=1,
            num_replicas=self.replicas,
            allow_direct=True,
            allow_msg_ttl=True,
            deny_delete=False,
        )
        # why: only the scheduler may create it; one made otherwise is refused (log/buckets.py)
        if await buckets.verify(self.nc, self.bucket):
            return await placement.raise_to(
                self.nc, self.stream, self.replicas, asked=False, say=False
            )
        try:
            await self.js.add_stream(config)
        except APIError as err:
            if placement.unplaceable(err):
                raise placement.refused_creation(self.nc, self.stream, self.replicas, err) from None
            raise
        return placement.Scaled(self.replicas, self.replicas)

    async def run(self, stop: asyncio.Event) -> None:
        """Take and keep the lease until stop; release it on the way out."""
        await self._publisher.start()
        try:
            while not stop.is_set():
                await self._attempt()
                await rest(stop, self.ttl / 3 if self.is_leader() else self.ttl / 5)
        finally:
            await self._release()
            await self._publisher.close()

    async def _attempt(self) -> None:
        self.started = self.started or time.time()
        try:
            await self._take_or_renew()
        finally:
            self.looked.set()
        self._announce()

    async def _take_or_renew(self) -> None:
        sent = time.monotonic()
        if not self.nc.is_connected:
            self._valid_until = 0.0  # why: a request now would only time out
            self.error = "NATS unreachable"
            return
        current = None
        try:
            current = await self._current()
            self._room_again(current)
            if current is not None and current[1].holder:
                self.last_held = time.time()
            self._saw(current)
            if current is None or self._ours_or_free(*current):
                await self._write(current[0] if current else 0)
                # why: stop ticking well before the key can expire on the server.
                self._valid_until = sent + self.ttl * 0.8
                self.last_held = time.time()
                self.tenures.note(self.holder, self.last_held, mine=True)
            self.error = ""
            GAPS.led(time.time())
        except (ConcurrencyConflict, AppendFailed, TimeoutError) as err:
            if isinstance(err, LogFull):
                self._full_at = current[0] if current is not None else 0
            if no_leader(err) and self.nc.is_connected:
                GAPS.leaderless(time.time())  # why: the ticker names it for fires it decides late
            # why: a lost race is routine; an unstored write (no ack, log full) stops the ticker:
            # said once as a warning, not once per attempt (a leader's: by its loss line)
            routine = isinstance(err, ConcurrencyConflict) or bool(self.error) or self._announced
            level = logging.INFO if routine else logging.WARNING
            log.log(level, "lease %s: lost or not taken (%s)", self.key, err)
            self._valid_until, self.error = 0.0, str(err) or type(err).__name__
        except Exception as err:  # noqa: BLE001 - NATS down: we cannot prove leadership
            if no_leader(err) and self.nc.is_connected:
                GAPS.leaderless(time.time())
            log.warning("lease %s: error %s", self.key, err)
            self._valid_until, self.error = 0.0, str(err) or type(err).__name__

    def _room_again(self, current: tuple[int, Holder] | None) -> None:
        """Clear this process's log-full alarm once another replica's lease write landed after
        the revision ours was refused on.

        why: a replica that sees the lease held does not write, so nothing of its own would
        clear the alarm: its `health` and `status` said `log full` long after the stall."""
        if self._full_at is None or current is None or current[0] <= self._full_at:
            return
        if STORAGE.stream:  # why: the log's own store is stuck; the lease's stores elsewhere
            return
        self._full_at = None
        if STORAGE.since is not None:
            log.info(
                "lease %s: written again by %s: the log takes appends", self.key, current[1].holder
            )
            STORAGE.accepted()

    async def holder_now(self, timeout: float = 2.0) -> str | None:
        """Who holds the lease right now: this replica, another, or nobody (None).

        why wait for the first look: a service asked right after it started has not tried
        to take the lease yet, and "nobody" would be a false alarm.
        """
        await set_within(self.looked, timeout)
        if self.nc.is_connected and time.monotonic() < self._valid_until:
            return self.holder  # why: not is_leader(), which would mark a waiter
        try:
            async with asyncio.timeout(timeout):
                return await lease_holder(self.nc, bucket=self.bucket, key=self.key)
        except TimeoutError:
            return None

    def _ours_or_free(self, seq: int, current: Holder) -> bool:
        """Whether we may write the lease: it is free, or held by this very process."""
        if not current.holder:
            return True
        if current.holder != self.holder:
            return False
        if current.token in (self.token, ""):
            return True  # why "": our name written by an older jetcron (an upgrade in place)
        # why only once renewed: our own previous run (a crash, a quick restart) left a lease
        # under our name that simply expires; a live twin renews it
        first = self._twins.setdefault(current.token, seq)
        if 0 <= first < seq:
            self._twins[current.token] = -1
            log.warning(
                "lease %s: another scheduler replica named %r holds it and renews it (not this "
                "process): give each replica its own --instance; this one stays standby",
                self.key, self.holder,
            )  # fmt: skip
        return False

    def _announce(self) -> None:
        """Set `changed` when leadership changed, or when it is back after someone heard "no"."""
        leading = self.is_leader()
        if leading != self._announced:
            self._announced = leading
            self.tenures.say(log, self.key, leading, self.error)
            self.changed.set()
        elif leading and self._denied:
            self.changed.set()
        if leading:
            self._denied = False

    def _saw(self, current: tuple[int, Holder] | None) -> None:
        """Note who holds the lease as read before our write: nobody, or another process
        (one of our name included); our own value is noted once our write is stored."""
        if current is None or not current[1].holder:
            self.tenures.note("", time.time())
        elif current[1].holder != self.holder or current[1].token not in (self.token, ""):
            self.tenures.note(current[1].holder, time.time())

    def leading_now(self) -> bool:
        """Whether this replica leads now (as is_leader, without marking a waiter)."""
        return self.nc.is_connected and time.monotonic() < self._valid_until

    async def _current(self) -> tuple[int, Holder] | None:
        try:
            msg = await self.js.get_last_msg(self.stream, self.subject, direct=True)
        except NotFoundError:
            return None
        seq = int(msg.seq or 0)
        holder, flaw = _read(msg.data, msg.headers)
        if holder is None:
            # why: nothing jetcron writes, and it never expires (the bucket has no TTL of its
            # own): refused, nobody would ever tick again. Free, taken by CAS on its seq.
            log.warning(
                "lease %s: %s at %s (seq %d) treated as free: %r",
                self.key,
                flaw,
                self.subject,
                seq,
                bytes(msg.data or b"")[:40],
            )
            return seq, Holder("", 0)
        return seq, holder

    async def _write(self, expected: int) -> None:
        if expected == 0 or not self._since:
            self._since = time.time()
        body = msgspec.json.encode(Holder(self.holder, self._since, self.token))
        headers = expect_last(expected) | {"Nats-TTL": f"{self.ttl}s"}
        ack = await self._publisher.request(self.subject, body, headers)
        self._seq = ack.seq

    async def _release(self) -> None:
        if not self.is_leader() or not self.nc.is_connected:
            return
        self._valid_until = 0.0
        if not await answering(self.nc):  # why: a frozen NATS would hold us for the ack timeout
            log.warning(
                "lease %s: not released: NATS not answering; left to expire within %d s",
                self.key,
                self.ttl,
            )
            return
        try:
            # why: a 1-second TTL rewrite frees the key fast for a clean hand-over.
            body = msgspec.json.encode(Holder("", 0))
            headers = expect_last(self._seq) | {"Nats-TTL": "1s"}
            await self._publisher.request(self.subject, body, headers)
        except Exception as err:  # noqa: BLE001 - it expires anyway
            log.warning(
                "lease %s: not released (%s); left to expire within %d s",
                self.key,
                str(err) or type(err).__name__,
                self.ttl,
            )


async def last_written(
    nc: Client, *, bucket: str = subjects.LEASE_BUCKET, timeout: float = 2.0
) -> float | None:
    """When the lease bucket was last written (a take, renew or release), as `time.time()`;
    None if unknown (no bucket, no answer).

    why: the server keeps a stream's last write time after the key expires, so "nobody holds
    the lease" can say since about when, the same for every replica and for the CLI.
    """
    try:
        msg = await nc.request(js_api("STREAM.INFO", subjects.kv_stream(bucket)), b"", timeout)
        stamp = msgspec.json.decode(msg.data).get("state", {}).get("last_ts", "")
    except Exception:  # noqa: BLE001 - no bucket or no answer: unknown
        return None
    return _epoch(stamp) if isinstance(stamp, str) else None


def _epoch(stamp: str) -> float | None:
    """An RFC 3339 time as JetStream writes it (nanoseconds, Z) as seconds since the epoch;
    None for the zero time of a stream never written."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    try:
        when = datetime.fromisoformat(head).replace(tzinfo=UTC)
    except ValueError:
        return None
    return None if when.year < 2000 else when.timestamp() + float(f"0.{frac or 0}")


async def lease_holder(
    nc: Client, *, bucket: str = subjects.LEASE_BUCKET, key: str = subjects.LEASE_KEY
) -> str | None:
    """Who holds a lease right now, if anyone (None also when there is no lease bucket yet,
    or when the key holds a value no replica wrote: replicas take that over as free)."""
    try:
        msg = await nc.jetstream().get_last_msg(
            subjects.kv_stream(bucket), subjects.kv_key(bucket, key)
        )
    except Exception:  # noqa: BLE001 - no bucket or no key: no holder
        return None
    holder, _ = _read(msg.data, msg.headers)  # why: no holder, as the lease itself sees it
    return holder.holder if holder is not None and holder.holder else None


def _read(data: bytes | None, headers: dict[str, str] | None) -> tuple[Holder | None, str]:
    """The holder a lease value names, or None and what is wrong with it (a delete marker
    is `Holder("", 0)`: free)."""
    if not data:
        return Holder("", 0), ""
    try:
        holder = _holder_decoder.decode(data)
    except msgspec.DecodeError as err:
        return None, f"unreadable value ({err})"
    if not (headers or {}).get("Nats-TTL"):
        return None, f"value without a TTL (holder {holder.holder!r}, never expires)"
    return holder, ""
