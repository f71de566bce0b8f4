"""The ticker's queue: schedules by the instant they next need attention.

A heap of distinct instants, each with the entries due then (one entry bare, several in a
list). An entry's live place is `entry.queued`; a reference left behind in an older instant
when the entry moved is stale and dropped when that instant comes up.

why: a million schedules share a few thousand instants (same specs fire together), and a
heap item per entry cost ~110 B (a tuple of 64 B, its heap slot and an entry in a dict of
live items); a bucket costs a list slot per entry, a push is a list append, and a burst of
schedules due together comes out of the heap in one pop.
"""

from __future__ import annotations

import heapq
from datetime import datetime

from jetcron.scheduler.entry import Entry


class DueQueue:
    """Entries by due instant; each entry is in at most one live place (`entry.queued`)."""

    __slots__ = ("_times", "_at")

    def __init__(self) -> None:
        self._times: list[datetime] = []
        """Heap of the instants that have a bucket."""
        self._at: dict[datetime, Entry | list[Entry]] = {}
        """Instant -> the entry, or entries, queued for it (stale ones included)."""

    def __bool__(self) -> bool:
        return bool(self._times)

    def first(self) -> datetime | None:
        """The earliest instant with a bucket (its entries may all be stale), or None."""
        return self._times[0] if self._times else None

    def push(self, due: datetime, entry: Entry) -> bool:
        """Queue the entry at `due` (a place it held before becomes stale); True if `due` is
        now the earliest instant, before every other."""
        entry.queued = due
        bucket = self._at.get(due)
        if bucket is None:
            self._at[due] = entry
            heapq.heappush(self._times, due)
            return self._times[0] is due
        if type(bucket) is list:
            bucket.append(entry)
        else:
            self._at[due] = [bucket, entry]  # type: ignore[list-item]
        return False

    def pop(self) -> tuple[datetime, list[Entry]]:
        """The earliest instant and the entries live there, all taken off the queue."""
        at = heapq.heappop(self._times)
        live: list[Entry] = []
        for entry in _entries(self._at.pop(at)):
            if entry.queued == at:  # why: set aside as taken, so a second reference is stale too
                entry.queued = None
                live.append(entry)
        return at, live

    @staticmethod
    def drop(entry: Entry) -> None:
        """Take the entry off the queue (its place becomes stale)."""
        entry.queued = None

    def live(self) -> dict[str, datetime]:
        """Schedule id -> the instant it is queued at (for tests and the bench)."""
        return {
            e.schedule_id: at for at, b in self._at.items() for e in _entries(b) if e.queued == at
        }


def _entries(bucket: Entry | list[Entry]) -> list[Entry] | tuple[Entry]:
    return bucket if type(bucket) is list else (bucket,)  # type: ignore[return-value]
