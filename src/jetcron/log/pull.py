"""One ephemeral AckNone pull consumer: created at a sequence, asked for batches, drained.

why: two pull requests stay in flight and what arrives is taken per wake-up, as the parser cut
it (log/fastsub.py); the reader (reader.py) re-creates the consumer when it goes quiet.
"""

from __future__ import annotations

import asyncio
import bisect
import json
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
from jetcron.log.follow import FollowHealth


class Delivered(msgspec.Struct, gc=False):
    """One wake-up's deliveries, as the parser cut them, and the place of the last one."""

    frames: list[Frame]
    """(subject, reply, payload, headers) of each message, in log order."""
    last_seq: int
    pending: int
    """Messages left after the last one."""


class Pull:
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


def seq_of(frame: Frame) -> int:
    """The stream sequence of a delivery, from its reply subject (parse_reply's rule)."""
    return int(frame[1].rsplit(b".", 4)[1])


def done(last: Delivered, follow: bool, until_seq: int | None) -> bool:
    """Whether a read ends after `last`: past `until_seq`, or at the end when not following."""
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


async def drain(
    pull: Pull,
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
                    yield delivered_of(frames[:at])
                return
        # why: a new batch each time another whole batch was delivered (two stay in flight)
        for _ in range((delivered + len(frames)) // pull.batch - delivered // pull.batch):
            await pull.request(expires)
        delivered += len(frames)
        if not frames:
            if not follow and pending == 0:
                return
            continue
        last = delivered_of(frames)
        if until_seq is not None and last.last_seq > until_seq:
            # why: one wake-up may bring records past the end asked for; a reader "until N"
            # (`replay --verify` folding to the live views' position) must not see them
            pull.past_end = True
            frames = frames[: bisect.bisect_right(frames, until_seq, key=seq_of)]
            if frames:
                yield delivered_of(frames)
            return
        yield last
        if done(last, follow, until_seq):
            return


def delivered_of(frames: list[Frame]) -> Delivered:
    """Deliveries (at least one) with the place of the last."""
    _, seq, _, _, left = frames[-1][1].rsplit(b".", 4)
    return Delivered(frames, int(seq), int(left))


async def _arrival(pull: Pull, budget: float, reconnects: int) -> bool:
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
