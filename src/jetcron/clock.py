"""Clocks: the real one, and a fake one that tests move by hand."""

from __future__ import annotations

import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

# why: asyncio is imported where a clock sleeps, not here: `preview` writes times with iso_z
# and imports no asyncio (tests/cli/test_main.py)


def iso_z(when: datetime) -> str:
    """A UTC instant as ISO-8601 with a trailing Z: the one way jetcron writes a time in
    events, answers and texts (fractions of a second kept when there are some)."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def second_z(when: datetime) -> str:
    """A UTC instant as texts show it: iso_z to the second (2026-12-03T13:12:23Z).

    why: an event's time carries microseconds; a sentence an operator reads does not."""
    return iso_z(when.replace(microsecond=0))


class Clock(Protocol):
    """What time-dependent code gets instead of datetime.now() and asyncio.sleep()."""

    def now(self) -> datetime:
        """The current time, tz-aware UTC."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return at `when` (at once if it has passed)."""
        ...


class SystemClock:
    """Wall-clock time; sleeps are precise to about a millisecond."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        import asyncio

        # why: asyncio.sleep drifts a little on long waits; re-check against the wall clock.
        while (delay := (when - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay if delay < 1 else delay - 0.002)


class FakeClock:
    """A clock that only moves when told; sleepers wake in time order as it passes them."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        import asyncio

        if when <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._ids), fut))
        await fut

    async def advance(self, delta: timedelta | float) -> None:
        """Move time forward, waking sleepers in order and letting them run."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        await self.set(self._now + step)

    async def set(self, when: datetime) -> None:
        """Jump to `when` (never backwards)."""
        import asyncio

        while self._sleepers and self._sleepers[0][0] <= when:
            at, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, at)
            if not fut.done():
                fut.set_result(None)
            for _ in range(5):
                await asyncio.sleep(0)
        self._now = max(self._now, when)
        await asyncio.sleep(0)
