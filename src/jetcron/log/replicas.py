"""Queries that survive a frozen replica: ask the queue group, and if it stays silent, also a
replica that has just answered discovery.

why: a query goes to the query service's queue group and NATS hands each request to one member
at random. A frozen member (SIGSTOP, a stuck event loop, a paused VM) keeps its subscription until
the server gives up on its connection (minutes), so it takes its share and answers none: with two
replicas, half the queries timed out. Queries are read-only, so asking a second replica is safe.

Who is alive comes from nats micro's discovery: a PING to `$SRV.PING.jetcron-query` is answered by
each replica's own event loop, now, so a frozen one never answers it. (The lease bucket names only
the ticker leader, and a frozen leader stays in it until its TTL runs out; replicas write no
heartbeats.) Each replica that answers is asked on its own subject (`subjects.replica_query`).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from jetcron import subjects
from jetcron.errors import NatsUnreachable, NoAnswerInTime, NotPermitted, ServiceUnavailable
from jetcron.log import refusals
from jetcron.log.requests import refuse_unless_connected

HEDGE_AFTER_S = 1.0
"""How long the queue group has before a live replica is asked too (at most a third of the
timeout). A healthy replica answers in milliseconds; it waits up to 2 s (ProjectionService.sync)
only while its views catch up with the log's end. The first request is never abandoned, so such a
slow answer still arrives: asking early costs one duplicate read, never a lost answer."""
PIN_S = 30.0
"""After the hedge answered where the queue group was silent, how long the same connection asks
that replica first. why: a long-lived client (the web gateway, backfill's polling) would pay the
hedge's wait on each query a frozen replica takes; after the pin it tries the group again, so a
thawed replica gets its share back within PIN_S. A one-shot CLI never reuses its connection."""
_PINS: weakref.WeakKeyDictionary[Client, tuple[str, float]] = weakref.WeakKeyDictionary()
PING_TYPE = "io.nats.micro.v1.ping_response"


UNHEDGED = frozenset({"state"})
"""Queries never asked twice. why: `state` (replay --verify) is the heaviest query, and a large
answer is an object in the snapshot store (kept there for minutes): a second one for nothing."""


def hedge_after(timeout: float, view: str = "") -> float | None:
    """Seconds to wait for the queue group before also asking a replica known to be alive
    (None: never, for a query in UNHEDGED)."""
    return None if view in UNHEDGED else min(HEDGE_AFTER_S, timeout / 3)


def replica_of(data: bytes) -> str | None:
    """The instance id in a query service's answer to a discovery PING (None if it is not one)."""
    answer = replica_answer(data)
    return None if answer is None else answer[0]


def replica_answer(data: bytes) -> tuple[str, str] | None:
    """(instance id, jetcron version or '?') of a query service's answer to a discovery PING
    (None if it is not one)."""
    try:
        ping = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    if not isinstance(ping, dict) or ping.get("type") != PING_TYPE:
        return None
    if ping.get("name") != subjects.QUERY_SERVICE:
        return None
    instance = ping.get("id")
    # why: the id becomes a subject token; one that could not be (empty, a dot, a wildcard) is no use
    if not isinstance(instance, str) or not instance or any(c in instance for c in ".*> \t"):
        return None
    return instance, str(ping.get("version") or "?")


def pinned(pin: tuple[str, float] | None, now: float) -> str | None:
    """The replica a connection asks first: its pinned one until the pin's end, else None (the
    queue group). `pin` is (replica, end) on the event loop's clock."""
    return pin[0] if pin is not None and now < pin[1] else None


def silence(replica: str | list[str] | None, asked: bool, first: str = "the queue group") -> str:
    """The hint of a query no replica answered: who was asked (`first`, then the replicas
    that answered discovery), what that says."""
    if isinstance(replica, list):
        replica = ", ".join(replica) or None
    if replica is None:
        return (
            "no replica of the query service answered it, nor a discovery ping: "
            "all are busy, stalled or frozen; try again"
        )
    if not asked:
        return "a replica answered discovery too late to be asked; the service is busy; try again"
    return (
        f"neither {first} nor replica {replica} (alive a moment before) answered: "
        "the service is busy or stalled; try again"
    )


async def ask(nc: Client, view: str, payload: bytes, what: str, timeout: float) -> Msg:
    """A query's reply, from the queue group (or the replica this connection is pinned to) or,
    if that is silent past `hedge_after`, from a replica that answers discovery; within
    `timeout` in all. ServiceUnavailable when no replica listens, NoAnswerInTime (naming who
    was silent) or NotPermitted otherwise."""
    refuse_unless_connected(nc, what)
    loop = asyncio.get_running_loop()
    mark, deadline = refusals.of(nc).count, loop.time() + timeout
    pin = pinned(_PINS.get(nc), loop.time())
    subject = subjects.query(view) if pin is None else subjects.replica_query(pin, view)
    hedge = _Hedge()
    try:
        msg = await _race(nc, subject, view, payload, deadline, hedge)
    except NoRespondersError as err:
        if pin is None:
            raise ServiceUnavailable(what) from err
        _PINS.pop(nc, None)  # why: the pinned replica is gone (restarted, stopped): the group
        return await ask(nc, view, payload, what, deadline - loop.time())
    if msg is not None:
        if hedge.answered and hedge.replica is not None:
            _PINS[nc] = (hedge.replica, loop.time() + PIN_S)
        return msg
    if refusals.refused(nc, subject, mark) is not None:
        raise NotPermitted(what, subject)
    if not hedge.replicas and not await server_answers(nc):
        # why: nobody answered, nor discovery: it is NATS, not the replicas (newcomer18b F11:
        # a stalled server was blamed on "all replicas busy, stalled or frozen")
        raise NatsUnreachable(what, stalled=True)
    first = "the queue group" if pin is None else f"replica {pin}"
    hint = silence(hedge.replicas, hedge.asked, first) if hedge.started else ""
    raise NoAnswerInTime(what, timeout, command=False, hint=hint)


SERVER_PROBE_S = 1
"""How long the NATS server may take to answer its own PING before it counts as unreachable."""


async def server_answers(nc: Client) -> bool:
    """Whether the NATS server answers a PING now (a request nobody answered: NATS, or them?)."""
    if not nc.is_connected:
        return False
    try:
        await nc.flush(timeout=SERVER_PROBE_S)
    except (NatsError, TimeoutError, OSError):
        return False
    return True


async def _race(
    nc: Client, subject: str, view: str, payload: bytes, deadline: float, hedge: _Hedge
) -> Msg | None:
    """The first reply: to `subject`, or, once that has been silent past `hedge_after`, to the
    hedge too; None at the deadline. NoRespondersError when nobody listens on `subject`."""
    loop = asyncio.get_running_loop()
    timeout = deadline - loop.time()
    tries = [asyncio.ensure_future(_request(nc, subject, payload, timeout))]
    first = hedge_after(timeout, view)
    try:
        msg = await _first_answer(tries, timeout if first is None else first)
        if msg is None and first is not None:
            tries.append(asyncio.ensure_future(hedge.ask(nc, view, payload, deadline)))
            msg = await _first_answer(tries, deadline - loop.time())
        return msg
    finally:
        for task in tries:
            task.cancel()


HEDGE_REPLICAS = 3
"""At most this many replicas that answer discovery are asked by one hedge."""


class _Hedge:
    """The second ask: discovery, then every replica that answers it (the first reply wins).

    why every one: a replica that answers discovery (its own event loop is free) may still be
    unable to answer a query (its read of the log stalled on a frozen cluster node, its query
    handler busy behind such reads), and it may be the very one the queue group's request
    went to; asking only the first to answer discovery then asked the silent one twice
    (newcomer17b: "neither the queue group nor replica … answered" with another replica fine).
    Queries are read-only, so a duplicate costs one read.
    """

    def __init__(self) -> None:
        self.replicas: list[str] = []
        """The replicas that answered discovery, in order."""
        self.replica: str | None = None
        """The replica whose reply was taken (None: none replied)."""
        self.started = self.asked = self.answered = False

    async def ask(self, nc: Client, view: str, payload: bytes, deadline: float) -> Msg | None:
        """The first reply of a replica that answered discovery; None at the deadline."""
        self.started = True
        found: asyncio.Queue[str] = asyncio.Queue()

        async def discovered(msg: Msg) -> None:
            replica = replica_of(msg.data)
            if replica is not None and replica not in self.replicas:
                if len(self.replicas) < HEDGE_REPLICAS:
                    self.replicas.append(replica)
                    found.put_nowait(replica)

        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox, cb=discovered)
        try:
            await nc.publish(subjects.service_ping(subjects.QUERY_SERVICE), b"", reply=inbox)
            return await self._first_reply(nc, view, payload, deadline, found)
        finally:
            await sub.unsubscribe()

    async def _first_reply(
        self, nc: Client, view: str, payload: bytes, deadline: float, found: asyncio.Queue[str]
    ) -> Msg | None:
        loop = asyncio.get_running_loop()
        asks: dict[asyncio.Future[Msg], str] = {}
        getter: asyncio.Future[str] = asyncio.ensure_future(found.get())
        try:
            while (left := deadline - loop.time()) > 0:
                waits: set[asyncio.Future[Any]] = {getter, *asks}
                await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    replica = getter.result()
                    getter = asyncio.ensure_future(found.get())
                    target = subjects.replica_query(replica, view)
                    left = max(0.01, deadline - loop.time())
                    asks[asyncio.ensure_future(nc.request(target, payload, timeout=left))] = replica
                    self.asked = True
                for task in [t for t in asks if t.done()]:
                    replica = asks.pop(task)
                    if task.exception() is None:
                        self.answered, self.replica = True, replica
                        return task.result()
                    # why: a timeout or a replica gone meanwhile: another may still answer
            return None
        finally:
            getter.cancel()
            for task in asks:
                if task.done():
                    task.exception()  # why: a late timeout, seen: not logged as unretrieved
                task.cancel()


async def _request(nc: Client, subject: str, payload: bytes, timeout: float) -> Msg | None:
    """The queue group's request (typed like the hedge, so both race in one list)."""
    return await nc.request(subject, payload, timeout=timeout)


async def _first_answer(tries: list[asyncio.Task[Msg | None]], wait: float) -> Msg | None:
    """The first reply among `tries` within `wait` seconds; a try that timed out or found
    nobody (the hedge) is no reply. Raises what the queue group's request raised otherwise."""
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    pending = set(tries)
    while pending:
        for task in [t for t in pending if t.done()]:
            pending.discard(task)
            if (msg := _reply(task)) is not None:
                return msg
        left = end - loop.time()
        if not pending or left <= 0:
            return None
        await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
    return None


def _reply(task: asyncio.Task[Msg | None]) -> Msg | None:
    """A finished try's reply (None: it timed out or found no one to ask)."""
    err = task.exception()
    if isinstance(err, NatsTimeout):
        return None
    if err is not None:
        raise err
    return task.result()
