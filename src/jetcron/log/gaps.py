"""The times this process could not use JetStream, and why: NATS out of reach (each
connection's outages, from its last answer to its reconnect) or no stream leader (an election,
a cluster that lost quorum). The ticker names them as the cause of fires it decided late.

why one record per process, as log/errors.STORAGE: the ticker does not hold the connection's
watch, and an outage of any connection of this process is NATS out of this host's reach.
"""

from __future__ import annotations

import collections
import re

from jetcron.domain.definition import LATE_NO_LEADER, LATE_UNREACHABLE
from jetcron.log.errors import NoLeader

KEPT = 16
"""Ended gaps remembered, the latest (the ticker asks right after one ends)."""

RawGap = tuple[str, float, float | None]
"""(cause, since, until; None: still), in epoch seconds."""


class GapLog:
    """Since when this process finds no stream leader, and the gaps it saw end."""

    def __init__(self) -> None:
        self.ended: collections.deque[RawGap] = collections.deque(maxlen=KEPT)
        self.leaderless_since: float | None = None

    def outage(self, since: float, until: float) -> None:
        """NATS was out of reach (a ConnectionWatch saw an outage end)."""
        self.ended.append((LATE_UNREACHABLE, since, until))

    def leaderless(self, now: float) -> None:
        """JetStream answered "no responders" (503) while NATS was connected: no leader."""
        if self.leaderless_since is None:
            self.leaderless_since = now

    def led(self, now: float) -> None:
        """A write was stored: a leader answers again."""
        if self.leaderless_since is not None:
            self.ended.append((LATE_NO_LEADER, self.leaderless_since, now))
            self.leaderless_since = None

    def all(self) -> list[RawGap]:
        """Every gap remembered, by start; a lasting one last."""
        out = sorted(self.ended, key=lambda g: g[1])
        if self.leaderless_since is not None:
            out.append((LATE_NO_LEADER, self.leaderless_since, None))
        return out


GAPS = GapLog()
"""This process's gaps (fed by connection.ConnectionWatch and the lease)."""


def no_leader(err: BaseException) -> bool:
    """True for JetStream's answer when a stream has no leader: "no responders" (503), and
    not the stream missing (errors.NoLeader found out)."""
    if isinstance(err, NoLeader):
        return not err.missing
    text = f"{type(err).__name__} {err}"
    return bool(_NO_LEADER.search(text))


_NO_LEADER = re.compile(r"\b503\b|no ?responders", re.IGNORECASE)
