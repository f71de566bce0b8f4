"""When the ticker could not decide fires, and why: the log refusing appends for want of
storage (in the ticker's clock), and this process's gaps (log/gaps.py: NATS out of reach, no
stream leader).

why: a fire that falls due while JetStream is full is found late once there is room again,
and is recorded missed like a fire of a scheduler that was down; the scheduler was up, so the
reason says `log full` instead (lateness.cause). The ticker notes the stall as it sees it: its
own appends refused, or the process's alarm (log/errors.STORAGE: a lease write refused too)
while it ticks or waits for the lease.
"""

from __future__ import annotations

from datetime import UTC, datetime

from jetcron.domain.definition import LATE_LOG_FULL
from jetcron.log.gaps import GAPS
from jetcron.scheduler.lateness import Gap


class StallWatch:
    """The last stall of appends for want of storage this ticker saw."""

    def __init__(self) -> None:
        self.since: datetime | None = None
        self.until: datetime | None = None

    def observe(self, full: bool, now: datetime) -> None:
        """The log refuses appends at `now` (`full`), or it does not (a stall ends)."""
        if full and (self.since is None or self.until is not None):
            self.since, self.until = now, None
        elif not full and self.since is not None and self.until is None:
            self.until = now

    @property
    def last(self) -> list[Gap]:
        """Every gap known (lateness.Gap), the last stall of appends among them, by start."""
        out: list[Gap] = [(k, _at(since), _utc(until)) for k, since, until in GAPS.all()]
        if self.since is not None:
            out.append((LATE_LOG_FULL, self.since, self.until))
        return sorted(out, key=lambda g: g[1])


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _utc(t: float | None) -> datetime | None:
    return None if t is None else _at(t)
