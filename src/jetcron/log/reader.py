"""Fast, batched reads of the log through an ephemeral AckNone pull consumer.

why: `pull_subscribe().fetch()` reads ~37k msg/s and `m.metadata` halves an ordered
consumer; raw MSG.NEXT requests with the stream sequence parsed from the reply subject
read ~220k/s (JETSTREAM_NOTES.md). The position lives with the caller's state, so an
ephemeral consumer re-created from `last_seq + 1` is all the durability a fold needs.
One subject's messages by direct gets: direct.py; records to events: decoding.py.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
from collections.abc import AsyncIterator, Sequence
from operator import itemgetter
from typing import Any

import msgspec
from nats.aio.client import Client

from jetcron.errors import InfrastructureError
from jetcron.log import refusals
from jetcron.log.api import js_api
from jetcron.log.fastsub import (
    Frame,
    FrameQueue,
    description_of,
    release,
    status_of,
    subscribe_queue,
)
from jetcron.log.follow import FollowHealth, backoff, iso, jittered

log = logging.getLogger(__name__)


class RawRecord(msgspec.Struct, gc=False):
    """One message as read: sequence, subject, payload, server timestamp, messages left."""

    seq: int
    subject: str
    data: bytes
    stored_ns: int
    pending: int


class Delivered(msgspec.Struct, gc=False):
    """One wake-up's deliveries, as the parser cut them, and the place of the last one."""

    frames: list[Frame]
    """(subject, reply, payload, headers) of each message, in log order."""
    last_seq: int
    pending: int
    """Messages left after the last one."""


def parse_reply(reply: str) -> tuple[int, int, int]:
    """(stream seq, timestamp ns, pending) from `$JS.ACK.<stream>.<consumer>.<d>.<sseq>.<cseq>.<ts>.<pending>`."""
    tokens = reply.split(".")
    # why: servers since 2.10 may prefix a domain and account hash (12+ tokens); count from the end.
    return int(tokens[-4]), int(tokens[-2]), int(tokens[-1])


class _Pull:
    """One ephemeral consumer plus its inbox; raw deliveries land in `inbox_buffer`."""

    def __init__(self, nc: Client, stream: str, subjects: Sequence[str] | None, batch: int) -> None:
        self.nc, self.stream, self.subjects, self.batch = nc, stream, subjects, batch
        self.queue = FrameQueue()
        self.arrived = self.queue.arrived
        self.name = ""
        self.inbox = nc.new_inbox()
        self.sub: Any = None
        self.past_end = False
        """A delivery went past the `until_seq` asked for: the read is whole."""

    async def open(self, start_seq: int) -> int:
        """Create the consumer at start_seq; returns how many matching messages are pending."""
        config: dict[str, Any] = {
            "deliver_policy": "by_start_sequence",
            "opt_start_seq": max(1, start_seq),
            "ack_policy": "none",
            "inactive_threshold": 30_000_000_000,
            "mem_storage": True,
            "num_replicas": 1,
            "max_waiting": 16,
        }
        if self.subjects:
            config["filter_subjects"] = list(self.subjects)
        reply = await self._api(
            js_api("CONSUMER.CREATE", self.stream), {"stream_name": self.stream, "config": config}
        )
        self.name = reply["name"]
        if self.sub is None:
            self.sub = await subscribe_queue(self.nc, self.inbox, self.queue)
        return int(reply.get("num_pending", 0))

    @property
    def buffer(self) -> list[Frame]:
        """Frames delivered and not taken yet."""
        return self.queue.frames

    def take(self) -> list[Frame]:
        """Everything delivered since the last take."""
        return self.queue.take()

    async def request(self, expires_s: float) -> None:
        """Ask for one more batch."""
        body = {
            "batch": self.batch,
            "expires": int(expires_s * 1e9),
            "idle_heartbeat": int(min(expires_s / 2, 5) * 1e9),
        }
        await self.nc.publish(
            js_api("CONSUMER.MSG.NEXT", self.stream, self.name),
            json.dumps(body).encode(),
            reply=self.inbox,
        )

    async def close(self) -> None:
        """Unsubscribe and delete the consumer (best effort)."""
        if self.sub is not None:
            release(self.nc, self.sub)
            if not self.nc.is_closed:
                await self.sub.unsubscribe()
        self.sub = None
        if self.name and self.nc.is_connected:
            # why: not awaited: a reader whose role may not delete consumers (operator,
            # auditor) would wait out a timeout on every read; the consumer expires anyway.
            delete = js_api("CONSUMER.DELETE", self.stream, self.name)
            if not refusals.of(self.nc).tolerate(delete):
                return  # why: this role may not (it was refused before); it expires anyway
            try:
                await self.nc.publish(delete, b"", reply=self.nc.new_inbox())
            except Exception:  # noqa: BLE001 - it expires on its own
                pass

    async def _api(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.nc.is_reconnecting:
            # why: a request now would only wait out its timeout; say so at once
            raise InfrastructureError(
                f"JetStream API {subject}: NATS is unreachable (reconnecting)"
            )
        try:
            msg = await self.nc.request(subject, json.dumps(body).encode(), timeout=5)
        except Exception as err:
            raise InfrastructureError(f"JetStream API {subject} failed: {err}") from err
        reply: dict[str, Any] = json.loads(msg.data)
        if "error" in reply:
            raise InfrastructureError(
                f"JetStream API {subject}: {reply['error'].get('description')}"
            )
        return reply


async def read_raw(
    nc: Client,
    stream: str,
    *,
    from_seq: int = 1,
    subjects: Sequence[str] | None = None,
    follow: bool = False,
    until_seq: int | None = None,
    batch: int = 10_000,
    idle_s: float = 5.0,
    health: FollowHealth | None = None,
) -> AsyncIterator[list[RawRecord]]:
    """Batches of raw records from from_seq; stops at the end unless follow=True.

    A follower (follow=True) never gives up on NATS: it re-creates its consumer with backoff
    for as long as the outage lasts, and reports how it is doing in `health`.
    """
    async for delivered in read_frames(
        nc,
        stream,
        from_seq=from_seq,
        subjects=subjects,
        follow=follow,
        until_seq=until_seq,
        batch=batch,
        idle_s=idle_s,
        health=health,
    ):
        yield records_of(delivered.frames)


async def read_frames(
    nc: Client,
    stream: str,
    *,
    from_seq: int = 1,
    subjects: Sequence[str] | None = None,
    follow: bool = False,
    until_seq: int | None = None,
    batch: int = 10_000,
    idle_s: float = 5.0,
    health: FollowHealth | None = None,
) -> AsyncIterator[Delivered]:
    """read_raw's deliveries as the parser cut them, each wake-up's at once (never empty).

    why: a replay makes its events from the frames in one msgspec call per chunk
    (log/decoding.py), no record per message in between.
    """
    pull = _Pull(nc, stream, subjects, batch)
    health = health or FollowHealth(f"reader of {stream}")
    next_seq, reopened = from_seq, 0
    try:
        while True:
            pending = await (_reopen(pull, next_seq, health) if follow else pull.open(next_seq))
            if pending == 0:
                if not follow:
                    return
                health.caught_up()
            async for delivered in _drain(pull, pending, follow, until_seq, idle_s, health):
                # why: after a re-open the old consumer's last deliveries may still arrive
                if reopened:
                    delivered = _after(delivered, next_seq)
                    if not delivered.frames:
                        continue
                next_seq = delivered.last_seq + 1
                yield delivered
                if delivered.pending == 0:
                    health.caught_up()
                if _done(delivered, follow, until_seq):
                    return
            reopened += 1
            if not follow:
                if pull.past_end:
                    return
                # why: a finite read that stops short (a dropped connection, a stall longer
                # than the heartbeat budget) must not pass for the whole log: the ticker's
                # catch-up would skip schedules, a replay would answer from part of the log
                if reopened > READ_RETRIES:
                    raise InfrastructureError(
                        f"reading {stream} stopped at seq {next_seq} before its end "
                        f"({READ_RETRIES} retries); nothing was changed, try again"
                    )
                log.info("log reader: read of %s stopped at seq %d; reading on", stream, next_seq)
                await _pause(nc, 0.5 * reopened)
                continue
            health.lost_place()  # why: what was stored meanwhile is unread until it is at the end
            log.info("log reader: consumer went quiet, re-creating it at seq %d", next_seq)
    finally:
        await pull.close()


def _after(delivered: Delivered, next_seq: int) -> Delivered:
    """The deliveries in sequence order from next_seq on, each once."""
    out: list[Frame] = []
    for frame in delivered.frames:
        seq = seq_of(frame)
        if seq >= next_seq:
            out.append(frame)
            next_seq = seq + 1
    return _delivered(out) if out else Delivered(out, 0, 0)


def seq_of(frame: Frame) -> int:
    """The stream sequence of a delivery, from its reply subject (parse_reply's rule)."""
    return int(frame[1].rsplit(b".", 4)[1])


async def _reopen(pull: _Pull, seq: int, health: FollowHealth) -> int:
    """Create the consumer at seq, retrying with backoff while JetStream does not answer."""
    attempt = 0
    while True:
        try:
            pending = await pull.open(seq)
        except InfrastructureError as err:
            if pull.nc.is_closed:
                raise  # why: a closed client never comes back; the service is shutting down
            attempt += 1
            delay = jittered(backoff(attempt))
            new_outage = health.down(err)
            (log.warning if new_outage else log.info)(
                "%s: cannot create its consumer at seq %d (%s); retrying in %.1fs, down since %s",
                health.name,
                seq,
                err,
                delay,
                iso(health.down_since),
            )
            await _pause(pull.nc, delay)
            continue
        lasted = health.up()
        if lasted is not None:
            log.warning("%s: reading again at seq %d after %.1fs", health.name, seq, lasted)
        return pending


def _done(last: Delivered, follow: bool, until_seq: int | None) -> bool:
    if until_seq is not None and last.last_seq >= until_seq:
        return True
    return not follow and last.pending == 0


Status = tuple[int, bytes | None]
"""A status message among deliveries: how many records came before it, and its headers."""


def split_statuses(frames: list[Frame]) -> tuple[list[Frame], list[Status]]:
    """One wake-up's frames as its deliveries and the status messages between them."""
    # why: a status message (no reply subject) is rare; one C-level pass finds there is none
    if all(map(_REPLY, frames)):
        return frames, []
    deliveries: list[Frame] = []
    statuses: list[Status] = []
    for frame in frames:
        if frame[1]:
            deliveries.append(frame)
        else:
            statuses.append((len(deliveries), frame[3]))
    return deliveries, statuses


_REPLY = itemgetter(1)


def records_of(deliveries: list[Frame]) -> list[RawRecord]:
    """Records from deliveries (frames with a reply subject)."""
    records: list[RawRecord] = []
    append = records.append
    for subject, reply, data, _ in deliveries:
        # why: parse_reply's rule on the raw bytes (the last tokens are sseq, cseq,
        # timestamp, pending); no str of the reply per message
        _, seq, _, ts, left = reply.rsplit(b".", 4)
        append(RawRecord(int(seq), subject.decode(), data, int(ts), int(left)))
    return records


async def _drain(
    pull: _Pull,
    pending: int,
    follow: bool,
    until_seq: int | None,
    idle_s: float,
    health: FollowHealth,
) -> AsyncIterator[Delivered]:
    """Keep two pull requests in flight; yield what arrives, grouped per wake-up."""
    expires = idle_s if follow else 2.0
    await pull.request(expires)
    await pull.request(expires)
    delivered = 0
    reconnects = pull.nc.stats["reconnects"]
    while True:
        if not pull.buffer and not await _arrival(pull, expires + 3.0, reconnects):
            return  # why: no message and no heartbeat, or a new connection: caller re-creates it
        frames, statuses = split_statuses(pull.take())
        for at, headers in statuses:
            status = status_of(headers)
            if status == "100" and not at and not pull.buffer:
                health.caught_up()  # why: an idle heartbeat: the consumer has nothing left for us
            elif status in ("404", "408"):
                await pull.request(expires)
            elif status == "409" and "Deleted" in description_of(headers):
                if at:
                    yield _delivered(frames[:at])
                return
        # why: a new batch each time another whole batch was delivered (two stay in flight)
        for _ in range((delivered + len(frames)) // pull.batch - delivered // pull.batch):
            await pull.request(expires)
        delivered += len(frames)
        if not frames:
            if not follow and pending == 0:
                return
            continue
        last = _delivered(frames)
        if until_seq is not None and last.last_seq > until_seq:
            # why: one wake-up may bring records past the end asked for; a reader "until N"
            # (`replay --verify` folding to the live views' position) must not see them
            pull.past_end = True
            frames = frames[: bisect.bisect_right(frames, until_seq, key=seq_of)]
            if frames:
                yield _delivered(frames)
            return
        yield last
        if _done(last, follow, until_seq):
            return


def _delivered(frames: list[Frame]) -> Delivered:
    """Deliveries (at least one) with the place of the last."""
    _, seq, _, _, left = frames[-1][1].rsplit(b".", 4)
    return Delivered(frames, int(seq), int(left))


async def _arrival(pull: _Pull, budget: float, reconnects: int) -> bool:
    """Wait for a delivery; False after `budget` s without one, or when the connection dropped.

    why: after a reconnect our pull requests (and, if the server restarted, the consumer) are
    gone; re-creating at once beats waiting out the heartbeat timeout, and while NATS is away
    the follower should say it is down rather than look merely idle.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    while not pull.arrived.is_set():
        left = deadline - loop.time()
        if left <= 0 or pull.nc.is_reconnecting or pull.nc.stats["reconnects"] != reconnects:
            return False
        try:
            # why: asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
            # races with a message arriving, and a cancelled follower would never stop.
            async with asyncio.timeout(min(left, 0.5)):
                await pull.arrived.wait()
        except TimeoutError:
            pass
    return True


async def _pause(nc: Client, delay: float) -> None:
    """Sleep `delay`, or less: as soon as a lost connection is back, try again at once."""
    was_away = nc.is_reconnecting
    deadline = asyncio.get_running_loop().time() + delay
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(min(0.1, delay))
        if was_away and nc.is_connected:
            return


READ_RETRIES = 5
"""Re-opens of a finite read that stopped short before it reports the log unreachable."""
