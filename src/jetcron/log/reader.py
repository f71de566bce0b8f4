"""Fast, batched reads of the log through an ephemeral AckNone pull consumer.

why: `pull_subscribe().fetch()` reads ~37k msg/s and `m.metadata` halves an ordered
consumer; raw MSG.NEXT requests with the stream sequence parsed from the reply subject
read ~220k/s (JETSTREAM_NOTES.md). The position lives with the caller's state, so an
ephemeral consumer re-created from `last_seq + 1` is all the durability a fold needs.
One subject's messages by direct gets: direct.py; records to events: decoding.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import ParamSpec

import msgspec
from nats.aio.client import Client

from jetcron.errors import InfrastructureError
from jetcron.log.fastsub import Frame
from jetcron.log.follow import FollowHealth, backoff, iso, jittered
from jetcron.log.pull import Delivered, Pull, delivered_of, done, drain, seq_of

log = logging.getLogger(__name__)
P = ParamSpec("P")


class RawRecord(msgspec.Struct, gc=False):
    """One message as read: sequence, subject, payload, server timestamp, messages left."""

    seq: int
    subject: str
    data: bytes
    stored_ns: int
    pending: int


def parse_reply(reply: str) -> tuple[int, int, int]:
    """(stream seq, timestamp ns, pending) from `$JS.ACK.<stream>.<consumer>.<d>.<sseq>.<cseq>.<ts>.<pending>`."""
    tokens = reply.split(".")
    # why: servers since 2.10 may prefix a domain and account hash (12+ tokens); count from the end.
    return int(tokens[-4]), int(tokens[-2]), int(tokens[-1])


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
    """Deliveries from from_seq as the parser cut them, each wake-up's at once (never empty);
    stops at the end unless follow=True. read_raw takes the same arguments and gives records.

    A follower (follow=True) never gives up on NATS: it re-creates its consumer with backoff
    for as long as the outage lasts, and reports how it is doing in `health`.
    why: a replay makes its events from the frames in one msgspec call per chunk
    (log/decoding.py), no record per message in between.
    """
    pull = Pull(nc, stream, subjects, batch)
    health = health or FollowHealth(f"reader of {stream}")
    next_seq, reopened = from_seq, 0
    try:
        while True:
            pending = await (_reopen(pull, next_seq, health) if follow else pull.open(next_seq))
            if pending == 0:
                if not follow:
                    return
                health.caught_up()
            async for delivered in drain(pull, pending, follow, until_seq, idle_s, health):
                # why: after a re-open the old consumer's last deliveries may still arrive
                if reopened:
                    delivered = _after(delivered, next_seq)
                    if not delivered.frames:
                        continue
                next_seq = delivered.last_seq + 1
                yield delivered
                if delivered.pending == 0:
                    health.caught_up()
                if done(delivered, follow, until_seq):
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


def _as_records(
    frames: Callable[P, AsyncIterator[Delivered]],
) -> Callable[P, AsyncIterator[list[RawRecord]]]:
    """`frames` giving records instead: its arguments, so one keyword list holds for both."""

    async def read_raw(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[list[RawRecord]]:
        """Batches of raw records from from_seq (read_frames' arguments and rules)."""
        async for delivered in frames(*args, **kwargs):
            yield records_of(delivered.frames)

    return read_raw


read_raw = _as_records(read_frames)


def _after(delivered: Delivered, next_seq: int) -> Delivered:
    """The deliveries in sequence order from next_seq on, each once."""
    out: list[Frame] = []
    for frame in delivered.frames:
        seq = seq_of(frame)
        if seq >= next_seq:
            out.append(frame)
            next_seq = seq + 1
    return delivered_of(out) if out else Delivered(out, 0, 0)


async def _reopen(pull: Pull, seq: int, health: FollowHealth) -> int:
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
