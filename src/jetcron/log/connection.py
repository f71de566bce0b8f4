"""Whether NATS is reachable from this process, and since when (fed by the client's callbacks)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from jetcron.log.follow import iso, rest
from jetcron.log.gaps import GAPS

log = logging.getLogger(__name__)

REMIND_EVERY_S = 10.0
"""While NATS is unreachable, say so at most this often (not on every reconnect attempt)."""


PROBE_EVERY_S = 2.0
"""How often a service asks NATS for a round trip (`probe`), so an outage dates from the last answer."""
PROBE_TIMEOUT_S = 1.0
PROBE_LAG_S = 0.5
"""A failed probe that took longer than its timeout plus this was our own event loop stalling
(a load, a collector pass): it says nothing about NATS."""
SILENT_PROBES = 2
"""Failed probes in a row (each on a free event loop) that make a hang of NATS worth recording
although the client kept its connection (a stop shorter than its ping timeout)."""


class ConnectionWatch:
    """NATS reachability as this process sees it: down since when, the last outage, reconnects.

    why the last answer: a frozen server (SIGSTOP, a hung host) keeps the socket open, and the
    client notices only when its pings run out (~30-40 s later); an outage then dates from the
    last round trip a probe saw (`answered`), not from when the client noticed. A hang shorter
    than the client's ping timeout is recorded from the probes alone (`unanswered`).
    """

    def __init__(
        self,
        what: str = "NATS",
        clock: Callable[[], float] = time.time,
        remind_every: float = REMIND_EVERY_S,
    ) -> None:
        self.what = what
        self.clock = clock
        self.remind_every = remind_every
        self.unreachable_since: float | None = None
        self.noticed_at: float | None = None
        """When this outage was noticed (unreachable_since may be earlier: the last answer)."""
        self.last_error = ""
        self.last_outage: tuple[float, float, float, bool] | None = None
        """(from, to, noticed at, the connection held: a hang only probes saw)."""
        self.last_answer: float | None = None
        """The last time NATS answered (a probe's PING, or the handshake of a (re)connect);
        None before the first connect."""
        self.reconnects = 0
        self.url = ""
        self.refusal: str | None = None
        """Why the server refused this client's identity, once it did (see `refuse`)."""
        self._refused = asyncio.Event()
        self._reminded = 0.0
        self._silent = 0
        self._silent_noticed = 0.0

    def lost(self, err: BaseException | str | None = None) -> None:
        """The connection is gone (disconnected callback, or a failed first connect)."""
        if err is not None:
            self.last_error = str(err) or type(err).__name__
        if self.refusal is not None:
            return  # why: refused, not unreachable; the process stops with that line
        if self.unreachable_since is not None:
            self.remind()
            return
        now = self.clock()
        since = self._began(now)
        self.unreachable_since, self.noticed_at, self._reminded = since, now, now
        log.warning(
            "%s unreachable since %s%s%s; reconnecting (forever, with backoff)",
            self.what,
            iso(since),
            f" (its last answer; noticed at {iso(now)})" if since < now else "",
            f": {self.last_error}" if self.last_error else "",
        )

    def _began(self, now: float) -> float:
        """When the outage noticed now began, as far as this process can tell."""
        if self._silent and self.last_answer is not None:
            return self.last_answer  # why: probes already saw it silent
        if self.last_answer is not None and self.last_answer < now:
            return self.last_answer
        return now

    def remind(self) -> None:
        """A failed reconnect attempt: repeat "unreachable since T" now and then, not every time."""
        now = self.clock()
        if self.unreachable_since is None or now - self._reminded < self.remind_every:
            return
        if self.refusal is not None:
            return
        self._reminded = now
        log.warning(
            "%s unreachable since %s (%.0fs)%s",
            self.what,
            iso(self.unreachable_since),
            now - self.unreachable_since,
            f": {self.last_error}" if self.last_error else "",
        )

    def restored(self, url: str = "") -> None:
        """Connected (again)."""
        self.url = url or self.url
        if self.unreachable_since is None:
            return
        now = self.clock()
        noticed = self.noticed_at if self.noticed_at is not None else self.unreachable_since
        self.last_outage = (self.unreachable_since, now, noticed, False)
        GAPS.outage(self.unreachable_since, now)
        self.reconnects += 1
        log.warning(
            "%s reachable again at %s after %.1fs (unreachable since %s)",
            self.what,
            self.url or "?",
            now - self.unreachable_since,
            iso(self.unreachable_since),
        )
        self.unreachable_since, self.noticed_at, self.last_error = None, None, ""
        self.last_answer, self._silent = now, 0

    def refuse(self, line: str) -> None:
        """The server refused this client's identity (connect/ decides when): no more
        "unreachable" lines; whoever waits on `refused` stops with `line`."""
        if self.refusal is None:
            self.refusal = line
            self._refused.set()

    async def refused(self) -> str:
        """Wait until the server refused this client's identity; the line that says so."""
        await self._refused.wait()
        return self.refusal or ""

    def answered(self) -> None:
        """A probe's round trip came back; ends a hang the probes saw (and records it)."""
        now = self.clock()
        if self.unreachable_since is not None:
            return  # why: the reconnect callback ends an outage the client noticed
        if self._silent >= SILENT_PROBES and self.last_answer is not None:
            self.last_outage = (self.last_answer, now, self._silent_noticed, True)
            GAPS.outage(self.last_answer, now)
            log.warning(
                "%s did not answer from %s to %s (%.1fs) though the connection held",
                self.what,
                iso(self.last_answer),
                iso(now),
                now - self.last_answer,
            )
        self.last_answer, self._silent = now, 0

    def unanswered(self, *, clean: bool) -> None:
        """A probe got no answer while the client was connected; `clean`: our own event loop
        did not stall meanwhile (else the miss says nothing about NATS)."""
        if not clean:
            self._silent = 0
            return
        if self._silent == 0:
            self._silent_noticed = self.clock()
        self._silent += 1

    @property
    def silent(self) -> bool:
        """Whether the last probe (on a free event loop) got no answer: NATS may be frozen
        although the client still says connected."""
        return self._silent > 0

    def report(self) -> dict[str, Any]:
        """JSON-ready state for `status`."""
        outage = self.last_outage
        return {
            "connected_url": self.url or None,
            "unreachable_since": iso(self.unreachable_since),
            "noticed_at": iso(self.noticed_at),
            "last_error": self.last_error or None,
            "last_outage": None
            if outage is None
            else {
                "from": iso(outage[0]),
                "to": iso(outage[1]),
                "seconds": round(outage[1] - outage[0], 1),
                "noticed": iso(outage[2]),
                "connection_held": outage[3],
            },
            "reconnects": self.reconnects,
        }


async def answering(nc: Any, timeout: float = 1.0) -> bool:
    """Whether NATS answers a PING within `timeout`.

    why: a frozen server (SIGSTOP, a hung host) keeps the socket open, so the client still says
    "connected" until its pings run out (~30 s); shutdown asks this before steps that would each
    wait out a request timeout.
    """
    return await Probe(nc).once(timeout)


async def round_trip(nc: Any, timeout: float) -> None:
    """`nc.flush(timeout)` without nats-py's late-PONG bug (see Probe); TimeoutError if NATS
    did not answer in time (other failures as they come)."""
    if not await Probe(nc).once(timeout):
        if not nc.is_connected:
            raise ConnectionError("not connected to NATS")
        raise TimeoutError(f"NATS did not answer a PING within {timeout:g}s")


PONG_WAIT_S = 300.0
"""How long a probe's PING may wait for its PONG: longer than any client's ping timeout, so
the connection is given up (and the PING with it, see Probe) before that."""


class Probe:
    """PING round trips that survive a late PONG, at most one in flight per connection.

    why not `await nc.flush(timeout)`: in nats-py 2.16 a flush that times out cancels its
    future but leaves it queued, and when the PONG comes later, setting that future's result
    raises (InvalidStateError) inside the client's read loop, which ends: the client still
    says connected and reads nothing until its pings run out (reproduced: a 0.5 s flush
    during a 1.5 s SIGSTOP). So the flush gets a long timeout and we wait for it shielded.

    why a PING is sent again after a reconnect: nats-py then replaces its list of PINGs
    awaiting a PONG (`_process_connect_init`: `self._pongs = []`) without resolving them, so
    the old PING never gets an answer; waiting on it left the probe blind for PONG_WAIT_S after
    every reconnect (newcomer16b: the next outage dated from that reconnect). The client's
    reconnect count tells the connections apart.
    """

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self._ping: asyncio.Future[None] | None = None
        self._sent_on = -1
        """The client's reconnect count when `_ping` was sent (the connection it went on)."""

    async def once(self, timeout: float) -> bool:
        """Whether a PONG came within `timeout` (a PING still unanswered on this connection is
        waited for, not sent again)."""
        if not self.nc.is_connected:
            return False
        self.drop_stale()
        if self._ping is None or self._ping.done():
            self._ping = asyncio.ensure_future(self.nc.flush(PONG_WAIT_S))
            self._ping.add_done_callback(_quiet)
            self._sent_on = _connection_of(self.nc)
        try:
            # why not asyncio.wait_for: on Python 3.11 a wait_for cancelled just as its PONG
            # lands returns the result and drops the cancel; an executor's renewal loop then
            # went on forever, and its stop with it (keepalive: waits for the loop to end).
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._ping)
        except Exception:  # noqa: BLE001 - any failure means "not answering now"
            return False
        return True

    def drop_stale(self) -> None:
        """Forget (and cancel) a PING the client no longer waits for: sent before a reconnect,
        or on a connection now closed.

        why cancelling is safe only then: the client holds no reference to its future any
        more, so no late PONG can hit a cancelled future in its read loop (see above).
        """
        ping = self._ping
        if ping is None or ping.done():
            return
        if self.nc.is_closed or _connection_of(self.nc) != self._sent_on:
            ping.cancel()
            self._ping = None


def _connection_of(nc: Any) -> int:
    """Which connection of the client is current: how often it reconnected."""
    return int(nc.stats.get("reconnects", 0))


def _quiet(done: asyncio.Future[None]) -> None:
    """Take a finished PING's exception (a closed connection), so none goes unretrieved."""
    if not done.cancelled():
        done.exception()


async def probe(
    nc: Any,
    watch: ConnectionWatch,
    stop: asyncio.Event,
    every: float = PROBE_EVERY_S,
    timeout: float = PROBE_TIMEOUT_S,
) -> None:
    """Ask NATS for a round trip every `every` seconds until stop, and tell `watch` (so an
    outage dates from the last answer, and a hang the client rides out is recorded)."""
    loop = asyncio.get_running_loop()
    prober = Probe(nc)
    try:
        while not stop.is_set():
            if nc.is_connected:
                began = loop.time()
                if await prober.once(timeout):
                    watch.answered()
                else:
                    watch.unanswered(clean=loop.time() - began < timeout + PROBE_LAG_S)
            await rest(stop, every)
    finally:
        prober.drop_stale()  # why: a PING on a closed connection would wait out PONG_WAIT_S
