"""How an executor takes work: one pool of run slots shared by all its consumers.

`--concurrency N` is the executor's limit across every consumer (its name, "default", each tag,
each fan-out group), and work on one busy target can use all N:

- an idle consumer waits for a free slot, then long-polls for one trigger *without* holding a
  slot, so idle consumers never sit on slots; the trigger it gets queues for a slot (kept
  alive with in-progress acks meanwhile) and runs as soon as one frees;
- a consumer whose last trigger says more wait behind it (its `num_pending`) reserves free
  slots for that backlog, up to all of them, and fetches that many (a short poll), then goes
  idle again once nothing waits;
- slots are granted first come, first served, so consumers with work take turns.

At most N triggers run at once. At most one trigger per consumer waits for a slot in hand
(an idle long-poll answered just after the last free slot was taken), except after NATS froze:
the pull requests sent meanwhile are answered late, all at once, and nats-py's next fetch hands
over every message they brought, however many it asked for (it drains its pending queue
first). Those beyond the slots in hand queue for a slot like the idle one (newcomer20b F1).
Runs adopted at a start hold a slot each (`Slots.occupy`) until they end.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from nats.aio.msg import Msg

from jetcron.executors.consumers import FETCH_TIMEOUT_S, Consumer

BACKLOG_FETCH_TIMEOUT_S = 0.05
"""Longest wait of a reserved fetch: reserved slots are held no longer than this for nothing."""


class Slots:
    """The executor's free run slots, granted to requests in the order they were made."""

    def __init__(self, n: int) -> None:
        self.size = n
        self.free = n
        self.closed = False
        self._waiting: deque[tuple[asyncio.Future[int], int]] = deque()

    def request(self, up_to: int) -> asyncio.Future[int]:
        """A claim on up to `up_to` free slots (at least one once granted; 0 once closed).

        `up_to=0` takes none: it resolves when a slot is free. Granted in request order.
        """
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((fut, up_to))
        self._grant()
        return fut

    async def take(self, up_to: int) -> int:
        """Wait for a free slot, take up to `up_to`; 0 once closed."""
        fut = self.request(up_to)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.give(fut.result())  # why: granted just as we were cancelled
            raise

    async def wait_free(self) -> bool:
        """Wait (in turn) until a slot is free, taking none; False once closed."""
        await self.take(0)
        return not self.closed

    def occupy(self) -> None:
        """Take one slot now, free or not: a run that already runs (adopted at a start).

        why: its job runs whether we count it or not; counting it keeps new runs waiting
        until fewer than N run (the count may go below zero for a while).
        """
        self.free -= 1

    def give(self, n: int) -> None:
        """Return slots."""
        if n:
            self.free += n
            self._grant()

    def close(self) -> None:
        """Answer every request, now and later, with 0."""
        self.closed = True
        self._grant()

    def _grant(self) -> None:
        while self._waiting and (self.free > 0 or self.closed):
            fut, up_to = self._waiting.popleft()
            if fut.done():
                continue  # why: its waiter was cancelled
            n = 0 if self.closed else min(up_to, self.free)
            self.free -= n
            fut.set_result(n)


Spawn = Callable[[Msg, "asyncio.Future[int]"], None]
"""Start handling a message once its slot future resolves (0: hand it back)."""


async def feed(consumer: Consumer, slots: Slots, spawn: Spawn) -> None:
    """Fetch from one consumer as slots allow until the slots are closed."""
    behind = 0
    while True:
        if behind:
            n = await slots.take(behind)
            if n == 0:
                return
            msgs = await consumer.fetch(n, timeout=BACKLOG_FETCH_TIMEOUT_S)
            slots.give(max(0, n - len(msgs)))
            for i, msg in enumerate(msgs):
                # why: a fetch can return more than n (see the module docstring): only n
                # have a slot; the rest wait for one, kept alive like an idle fetch's trigger
                spawn(msg, _granted(1) if i < n else slots.request(1))
        else:
            if not await slots.wait_free():
                return
            # why: a long poll holding no slot: an idle consumer must not keep work from a
            # busy one. Its trigger queues for a slot like everyone else (request order).
            msgs = await consumer.fetch(1, timeout=FETCH_TIMEOUT_S)
            for msg in msgs:
                spawn(msg, slots.request(1))
        behind = _pending_after(msgs[-1]) if msgs else 0


def _pending_after(msg: Msg) -> int:
    """How many messages wait in the consumer behind this one (as it was delivered).

    why: a consumer fetches only the backlog that is there; fetching more would linger for
    messages that are not there yet while holding their slots.
    """
    try:
        return int(msg.metadata.num_pending or 0)
    except Exception:  # noqa: BLE001 - not a JetStream message: assume nothing waits
        return 0


def _granted(n: int) -> asyncio.Future[int]:
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    fut.set_result(n)
    return fut
