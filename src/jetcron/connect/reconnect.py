"""A service's connection: it reconnects forever, with backoff, to the server tried least
recently, gives up a hung one after two unanswered PINGs, and tells its `ConnectionWatch`."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from nats.aio.client import Client, Server

from jetcron.connect.failure import identity_refused
from jetcron.log.connection import ConnectionWatch, probe
from jetcron.log.errors import connection_lost

log = logging.getLogger("jetcron.connect")  # why: the package's one logger, as before the split

RECONNECT_BASE_S = 0.25
RECONNECT_CAP_S = 2.0
"""A service retries a server at most this far apart (nats' own reconnect_time_wait)."""
RECONNECT_JITTER_S = 0.1
"""Spread of each wait, so many clients do not reconnect in step (nats.go's ReconnectJitter)."""


def reconnect_delay(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the next try of a server already tried `attempts` times since it went away."""
    if attempts <= 0:
        return 0.0
    return (
        min(RECONNECT_BASE_S * 2.0 ** (attempts - 1), RECONNECT_CAP_S) + RECONNECT_JITTER_S * rand()
    )


class ServerRotation:
    """nats-py's reconnect hook for one service's client: the server tried least recently
    first, after a backoff that counts only this outage's tries of it.

    why not nats-py's own `reconnects` counts (what this hook used to pick the least of): the
    client resets a count only for the server it connects to, so after an outage in which every
    server was tried N times, the one in use has 0 and the others N; when it hung, it was
    picked again and again (a 2 s connect timeout each) until its count passed theirs, and a
    service stayed cut off for a whole 75 s freeze of one node of three (newcomer17b #6).
    The server in use counts as tried when it was connected to, so it goes last.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tried: dict[str, float] = {}
        """netloc -> when it was last tried (or connected to)."""
        self._tries: dict[str, int] = {}
        """netloc -> tries since the last successful connect (the backoff's count)."""

    def connected(self, url: str) -> None:
        """A (re)connect succeeded to `url`: it is the most recently tried; backoffs restart."""
        self._tries.clear()
        if netloc := urlsplit(url).netloc:
            self._tried[netloc] = self.clock()

    def __call__(self, servers: list[Server], _info: dict[str, Any]) -> tuple[Server | None, float]:
        chosen = min(servers, key=lambda s: self._tried.get(s.uri.netloc, -1.0), default=None)
        if chosen is None:
            return None, 0.0
        tries = self._tries.get(chosen.uri.netloc, 0)
        self._tries[chosen.uri.netloc] = tries + 1
        self._tried[chosen.uri.netloc] = self.clock()
        return chosen, reconnect_delay(tries)


STALE_PING_S = 2.0
STALE_PINGS = 2
"""A service's connection is given up when this many PINGs, one every STALE_PING_S, went
unanswered: a hung server (SIGSTOP, a stuck host) is left for another within 4-6 s.

why this fast: an executor on a hung node cannot renew its running triggers, and a peer of
its pool may take one over after the consumer's ack-wait (30 s by default); the client used
to notice only after ~30-34 s (10 s x 3), no sooner than that (newcomer17b #1). Our event
loop stalling cannot fake it: the PING timer then fires once, not three times.
"""


class IdentityRefusals:
    """Refusals of a service's identity since it was last connected: after every server it
    was given (twice at least) refused it, the answer stands and it stops reconnecting.

    why not at the first: a cluster's nodes reload a changed auth config one by one, and an
    answer given twice is no accident of one connection; why at all: a revoked user's
    `runs follow` or executor said "unreachable … reconnecting forever" (newcomer19c #6).
    """

    def __init__(self, servers: int) -> None:
        self.needed = max(2, servers)
        self.count = 0

    def connected(self) -> None:
        """A (re)connect succeeded: the identity was accepted."""
        self.count = 0

    def refused(self) -> bool:
        """One more refusal; True when they settle it."""
        self.count += 1
        return self.count >= self.needed


def watch_callbacks(
    nc: Client,
    watch: ConnectionWatch,
    closed: asyncio.Event,
    rotation: ServerRotation,
    refusals: tuple[IdentityRefusals, Callable[[BaseException | str], str]],
) -> dict[str, Any]:
    """disconnected/reconnected/error callbacks that keep `watch` and `rotation` current and
    the log quiet; `closed` is set when the client is closed for good. `refusals`: the count
    of refusals of the identity, and the line the watch is told once they settle it."""
    counted, line = refusals

    async def disconnected() -> None:
        if not nc.is_closed:  # why: nats-py calls this on close() too; that is no outage
            watch.lost(nc.last_error)

    async def reconnected() -> None:
        counted.connected()
        rotation.connected(url_of(nc))
        watch.restored(url_of(nc))

    async def error(err: Exception) -> None:
        text = str(err) or type(err).__name__
        if not nc.is_connected and identity_refused(err):
            if counted.refused():
                watch.refuse(line(err))
        elif not nc.is_connected:
            watch.lost(err)  # why: one line per outage and a reminder now and then, not per try
        elif connection_lost(err):
            log.info("NATS: %s", text)  # why: the disconnected callback tells the story next
        else:
            log.warning("NATS: %s", text)

    async def on_closed() -> None:
        if identity_refused(nc.last_error):  # why: nats-py closes at an -ERR on a live connection
            watch.refuse(line(nc.last_error or ""))
        closed.set()

    return {
        "disconnected_cb": disconnected,
        "reconnected_cb": reconnected,
        "error_cb": error,
        "closed_cb": on_closed,
    }


_probes: set[asyncio.Task[None]] = set()
"""The probes of watched connections (asyncio itself holds tasks only weakly)."""


def probe_while_open(nc: Client, watch: ConnectionWatch, closed: asyncio.Event) -> None:
    """Ask NATS for a round trip every 2 s until the client is closed, telling `watch`.

    why here, for every watched connection: each process that says "unreachable since T"
    (serve, executor, the web gateway, `runs follow`) must date it from NATS's last answer;
    without probes an executor dated a freeze from its previous reconnect (newcomer16b).
    """
    task = asyncio.create_task(probe(nc, watch, closed), name=f"probe of {watch.what}")
    _probes.add(task)
    task.add_done_callback(_probes.discard)


async def _quiet(err: Exception) -> None:
    log.debug("NATS: %s", str(err) or type(err).__name__)


def url_of(nc: Client) -> str:
    """The URL of the server a client is connected to ('' if none)."""
    server = nc.connected_url
    return f"{server.scheme}://{server.netloc}" if server is not None else ""
