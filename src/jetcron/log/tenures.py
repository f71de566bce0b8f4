"""Who held the ticker lease when, as one replica saw it, and its one line when it takes or
loses the lease.

why: a fire decided late is told by who held the lease at its time: nobody (`scheduler down`),
another replica that did not tick, or the one that decided it (scheduler/late_cause.py); and
after a slow failover nobody could tell who had held the lease meanwhile (nc21c #9).
"""

from __future__ import annotations

import collections
import logging
import time
from datetime import UTC, datetime

import msgspec

from jetcron.clock import iso_z

KEPT = 32
"""Tenures a replica remembers (the ticker asks right after it decides a late fire)."""


class Sighting(msgspec.Struct, gc=False):
    """A time this replica saw the lease held by `holder` ("": free), from `first` to `last`
    (epoch seconds); `mine`: its own tenure, from its take to its last renewal."""

    holder: str
    first: float
    last: float
    mine: bool = False


class Tenures:
    """The sightings of one lease by one replica, oldest first."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.seen: collections.deque[Sighting] = collections.deque(maxlen=KEPT)
        self.lost_at = 0.0
        """When this replica last lost the lease (0: never)."""

    def note(self, holder: str, now: float, *, mine: bool = False) -> None:
        """The lease was seen held by `holder` ("": free; `mine`: by this process) at `now`."""
        last = self.seen[-1] if self.seen else None
        if last is not None and last.holder == holder and last.mine == mine:
            last.last = now
        else:
            self.seen.append(Sighting(holder, now, now, mine))

    def copies(self, leading: bool) -> list[Sighting]:
        """The sightings (copies); this replica's current tenure lasts until now while it
        leads (its last renewal is up to a third of the TTL ago)."""
        out = [Sighting(s.holder, s.first, s.last, s.mine) for s in self.seen]
        if out and out[-1].mine and leading:
            out[-1].last = time.time()
        return out

    def before(self) -> Sighting | None:
        """The last holder seen before this replica's current tenure (None: nobody seen)."""
        seen = list(self.seen)
        if seen and seen[-1].mine:
            seen.pop()
        return next((s for s in reversed(seen) if s.holder), None)

    def say(self, log: logging.Logger, key: str, leading: bool, error: str) -> None:
        """One line as this replica takes (`leading`) or loses the lease, naming who held it
        before (or why it lost it). A take with nobody seen before (a start) is routine: INFO."""
        last = self.seen[-1] if self.seen else None
        if not leading:
            self.lost_at = time.time()
            other = f"{last.holder} holds it now" if last and last.holder and not last.mine else ""
            log.warning(
                "lease %s: %s lost it (%s); it does not tick until it holds it again",
                key, self.me, error or other or "not renewed in time",
            )  # fmt: skip
            return
        if last is not None and last.mine and last.first < self.lost_at:
            # why: its own key outlived the loss (a short outage): nobody held it meanwhile
            log.warning("lease %s: %s holds it again (nobody took it meanwhile)", key, self.me)
            return
        before = self.before()
        if before is None:
            log.info("lease %s: %s took it (nobody held it before)", key, self.me)
            return
        who = f"{before.holder} (this replica)" if before.mine else before.holder
        log.warning(
            "lease %s: %s took it; last holder %s, seen holding it until %s",
            key, self.me, who, _z(before.last),
        )  # fmt: skip


def _z(at: float) -> str:
    return iso_z(datetime.fromtimestamp(int(at), UTC))
