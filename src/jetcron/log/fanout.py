"""One reader of the log for several folds of one process (`serve`: projections, ticker, breaker).

why: each fold following the log on its own read and decoded every event once per fold, and
the server delivered it once per consumer; `serve` spent most of a catch-up doing that
(measured: ~3,500 events/s with four followers). One reader decodes each event once and hands
the batch to every fold in log order.

Each fold keeps its own position (restored from its own snapshot); the reader starts one past
the lowest, and a fold skips what it already holds (every fold applies a sequence at most
once), so folds restored at different positions, and a reader restarted after a failure, give
the same state as a fold that read alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from jetcron.domain.envelope import StoredEvent, UnknownEvent
from jetcron.log.decoding import OnSkipped
from jetcron.log.follow import FollowHealth
from jetcron.log.stream import EventLog


class Fold(Protocol):
    """What the reader feeds: a position and a way to take a batch in log order."""

    @property
    def position(self) -> int:
        """The last sequence this fold reflects."""
        ...

    async def take(self, batch: list[StoredEvent]) -> None:
        """Apply a batch (events at or below `position` are skipped by the fold itself).

        A fold skips an event it cannot apply (logged) rather than raise: raising restarts
        the one reader, and with it every fold.
        """
        ...


class Fanout:
    """Follows the log once and feeds every fold; `current` is set while the folds hold
    everything the log held when the reader was last at its end and it has read on since
    without a break (cleared when it loses its place: see FollowHealth.current)."""

    def __init__(
        self,
        event_log: EventLog,
        folds: Sequence[Fold],
        *,
        health: FollowHealth,
        on_skipped: OnSkipped | None = None,
    ) -> None:
        self.log, self.folds, self.health = event_log, list(folds), health
        self.on_skipped = on_skipped
        self.events = 0
        """Events handed out (each counted once, however many folds took it)."""

    @property
    def current(self) -> asyncio.Event:
        """Set while the folds are current (the reader's health says when it lost its place)."""
        return self.health.current

    @property
    def position(self) -> int:
        """The lowest position of the folds: where the reader goes on from."""
        return min(f.position for f in self.folds)

    async def run(self) -> None:
        """Read from the lowest position on, forever (one life; run it under `supervise`)."""
        start = self.position
        end = await self.log.last_seq()
        if end <= start:
            self.current.set()
        async for batch in self.log.read(
            from_seq=start + 1, follow=True, on_skipped=self._skipped, health=self.health
        ):
            last = batch[-1].seq
            for fold in self.folds:
                if fold.position < last:
                    await fold.take(batch)
            self.events += len(batch)
            if last >= end:
                self.current.set()

    def _skipped(self, seq: int, unknown: UnknownEvent) -> None:
        if self.on_skipped is not None:
            self.on_skipped(seq, unknown)
