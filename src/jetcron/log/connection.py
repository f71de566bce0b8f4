"""Whether NATS is reachable from this process, and since when (fed by the client's callbacks)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from jetcron.log.follow import iso

log = logging.getLogger(__name__)

REMIND_EVERY_S = 10.0
"""While NATS is unreachable, say so at most this often (not on every reconnect attempt)."""


class ConnectionWatch:
    """NATS reachability as this process sees it: down since when, the last outage, reconnects."""

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
        self.last_error = ""
        self.last_outage: tuple[float, float] | None = None
        self.reconnects = 0
        self.url = ""
        self._reminded = 0.0

    def lost(self, err: BaseException | str | None = None) -> None:
        """The connection is gone (disconnected callback, or a failed first connect)."""
        if err is not None:
            self.last_error = str(err) or type(err).__name__
        if self.unreachable_since is not None:
            self.remind()
            return
        self.unreachable_since = self._reminded = self.clock()
        log.warning(
            "%s unreachable since %s%s; reconnecting (forever, with backoff)",
            self.what,
            iso(self.unreachable_since),
            f": {self.last_error}" if self.last_error else "",
        )

    def remind(self) -> None:
        """A failed reconnect attempt: repeat "unreachable since T" now and then, not every time."""
        now = self.clock()
        if self.unreachable_since is None or now - self._reminded < self.remind_every:
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
        self.last_outage = (self.unreachable_since, now)
        self.reconnects += 1
        log.warning(
            "%s reachable again at %s after %.1fs (unreachable since %s)",
            self.what,
            self.url or "?",
            now - self.unreachable_since,
            iso(self.unreachable_since),
        )
        self.unreachable_since, self.last_error = None, ""

    def report(self) -> dict[str, Any]:
        """JSON-ready state for `status`."""
        outage = self.last_outage
        return {
            "connected_url": self.url or None,
            "unreachable_since": iso(self.unreachable_since),
            "last_error": self.last_error or None,
            "last_outage": None
            if outage is None
            else {
                "from": iso(outage[0]),
                "to": iso(outage[1]),
                "seconds": round(outage[1] - outage[0], 1),
            },
            "reconnects": self.reconnects,
        }


async def answering(nc: Any, timeout: float = 1.0) -> bool:
    """Whether NATS answers a PING within `timeout`.

    why: a frozen server (SIGSTOP, a hung host) keeps the socket open, so the client still says
    "connected" until its pings run out (~30 s); shutdown asks this before steps that would each
    wait out a request timeout.
    """
    if not nc.is_connected:
        return False
    try:
        await nc.flush(timeout)
    except Exception:  # noqa: BLE001 - any failure means "not answering now"
        return False
    return True
