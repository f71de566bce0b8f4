"""What the ticker saw that can make a fire late, gathered for late_cause: when the log refused
appends for want of storage (in the ticker's clock), this process's gaps (log/gaps.py: NATS
out of reach, no stream leader) and who held the ticker lease when (log/tenures.py).

why: a fire that falls due while JetStream is full is found late once there is room again;
the scheduler was up, so the reason says `log full` (late_cause.cause). The ticker notes the
stall as it sees it: its own appends refused, or the process's alarm (log/errors.STORAGE: a
lease write refused too) while it ticks or waits for the lease.
"""

from __future__ import annotations

import collections
import time
from datetime import UTC, datetime, timedelta

from jetcron.domain.definition import LATE_LOG_FULL
from jetcron.log.errors import STORAGE
from jetcron.log.gaps import GAPS
from jetcron.log.lease import KvLease, Leadership
from jetcron.scheduler.late_cause import Gap, Held, Seen, Tenure

KEPT = 16
"""Stalls remembered, the latest (as log/gaps.KEPT)."""


class StallWatch:
    """The stalls of appends for want of storage this ticker saw, the last maybe still on."""

    def __init__(self) -> None:
        self.stalls: collections.deque[tuple[datetime, datetime | None]] = collections.deque(
            maxlen=KEPT
        )

    def observe(self, full: bool, now: datetime, ago: float = 0.0) -> None:
        """The log refuses appends at `now` (`full`: since `ago` seconds), or it does not (a
        stall ends)."""
        on = bool(self.stalls) and self.stalls[-1][1] is None
        if full and not on:
            self.stalls.append((now - timedelta(seconds=ago), None))
        elif not full and on:
            self.stalls[-1] = (self.stalls[-1][0], now)

    def observe_alarm(self, now: datetime) -> None:
        """Note the process's storage alarm (log/errors.STORAGE) at `now`, in the ticker's clock.

        why since the alarm's start: a stall that began between two ticks (a stuck store is
        known only once an append went unacked) kept the fires due meanwhile out of it."""
        since = STORAGE.since
        self.observe(since is not None, now, max(0.0, time.time() - since) if since else 0.0)

    @property
    def last(self) -> list[Gap]:
        """Every gap known (late_cause.Gap): the process's and the stalls of appends, by start.

        why every stall, not the last: a fire missed in an earlier stall, decided after a
        later one, was blamed on the later (nc21c #1)."""
        out: list[Gap] = [(k, _at(since), _utc(until)) for k, since, until in GAPS.all()]
        out += [(LATE_LOG_FULL, since, until) for since, until in self.stalls]
        return sorted(out, key=lambda g: g[1])


def seen(stalls: StallWatch, lease: Leadership, held: Held | None = None) -> Seen:
    """What the ticker saw (late_cause.Seen): its gaps, the lease's tenures, a hold."""
    return Seen(gaps=stalls.last, tenures=tenures_of(lease), held=held)


def tenures_of(lease: Leadership) -> list[Tenure]:
    """Who held the lease when, as this replica saw it (none for a lease that keeps no
    record: one scheduler, tests)."""
    if not isinstance(lease, KvLease):
        return []
    return [
        Tenure(s.holder, _at(s.first), _at(s.last), s.mine)
        for s in lease.tenures.copies(lease.leading_now())
    ]


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _utc(t: float | None) -> datetime | None:
    return None if t is None else _at(t)
