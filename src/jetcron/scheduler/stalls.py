"""When the ticker found the log refusing appends for want of storage, in the ticker's clock.

why: a fire that falls due while JetStream is full is found late once there is room again,
and is recorded missed like a fire of a scheduler that was down; the scheduler was up, so the
reason says `log full` instead (lateness.cause). The ticker notes the stall as it sees it: its
own appends refused, or the process's alarm (log/errors.STORAGE: a lease write refused too)
while it ticks or waits for the lease.
"""

from __future__ import annotations

from datetime import datetime

from jetcron.scheduler.lateness import Stall


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
    def last(self) -> Stall | None:
        """(since, until; None while it lasts), or None if there was none."""
        return None if self.since is None else (self.since, self.until)
