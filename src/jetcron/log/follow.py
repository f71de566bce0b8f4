"""Followers: long-lived readers of the log that ride out NATS outages instead of dying.

A follower reports how it is doing in a FollowHealth (down since when, last time it was
known to be at the end of the log), so queries can say "stale since T" instead of answering
silently from a frozen view. `supervise` restarts a follower that fails, with backoff, and
logs every failure loudly; it never stops one silently.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from jetcron.log.errors import transient

log = logging.getLogger(__name__)

RETRY_BASE_S = 0.5
RETRY_CAP_S = 10.0


def backoff(attempt: int, *, base: float = RETRY_BASE_S, cap: float = RETRY_CAP_S) -> float:
    """Seconds before retry number `attempt` (1, 2, ...): doubling from base, capped."""
    return min(base * 2.0 ** max(0, attempt - 1), cap)


def jittered(
    delay: float, fraction: float = 0.2, rand: Callable[[], float] = random.random
) -> float:
    """delay spread by up to ±fraction, so replicas that failed together do not retry in step."""
    return delay * (1 + fraction * (2 * rand() - 1))


def iso(ts: float | None) -> str | None:
    """A wall-clock timestamp as ISO-8601 UTC (second precision), None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FollowHealth:
    """How one follower is doing: down since when (and why), and when it was last current."""

    def __init__(self, name: str, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.clock = clock
        self.started_at = clock()
        self.down_since: float | None = None
        """Wall time of the first failure of the current outage; None while it reads."""
        self.error = ""
        self.current_at: float | None = None
        """Last time the follower had read everything the log held."""
        self.failures = 0
        self.restarts = 0
        self.listeners: list[Callable[[], None]] = []
        """Called whenever the follower is at the log's end (`caught_up`): cheap, and never raise."""
        self.current = asyncio.Event()
        """Set while the follower has read on without a break since it was last at the log's
        end; cleared when it loses its place (a failure, a reconnect, a consumer gone quiet)
        until it is at the end again.

        why not "at the end now": while other writers append, no reader ever is for long; a
        reader that follows without a break is only the ordinary moment behind, one that lost
        its consumer may be an outage behind (newcomer17b: a fire skipped for a run whose
        result the reader had not read yet)."""

    def down(self, err: BaseException | str) -> bool:
        """Record a failure; True if this starts a new outage (worth a loud log line)."""
        self.error = str(err) or type(err).__name__
        self.failures += 1
        self.current.clear()
        if self.down_since is None:
            self.down_since = self.clock()
            return True
        return False

    def up(self) -> float | None:
        """The follower reads again; returns how long it was down (None if it was not)."""
        if self.down_since is None:
            return None
        lasted = self.clock() - self.down_since
        self.down_since, self.error = None, ""
        return lasted

    def caught_up(self) -> None:
        """The follower has applied everything the log held a moment ago."""
        self.current_at = self.clock()
        self.current.set()
        self.up()
        for listener in self.listeners:
            listener()

    def lost_place(self) -> None:
        """The follower's read broke (its consumer is re-created): not current until it is at
        the end again."""
        self.current.clear()

    def report(self) -> dict[str, Any]:
        """JSON-ready state for `status`."""
        return {
            "down_since": iso(self.down_since),
            "error": self.error or None,
            "current_at": iso(self.current_at),
            "failures": self.failures,
            "restarts": self.restarts,
        }


async def supervise(
    follower: Callable[[], Awaitable[None]],
    *,
    health: FollowHealth,
    stop: asyncio.Event,
    base: float = RETRY_BASE_S,
    cap: float = RETRY_CAP_S,
    up_after: float | None = None,
    stops_itself: bool = False,
) -> None:
    """Run follower() until stop; restart it with backoff whenever it fails or ends early.

    On stop the follower is cancelled, unless `stops_itself` (it watches stop and winds down
    on its own). A follower that reads through `read_raw` reports its own recovery to
    `health`; for any other, pass `up_after`: running that long without failing counts as
    recovered.
    """
    attempt = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            await _run(follower, health, stop, up_after, stops_itself)
            if stop.is_set():
                return
            raise RuntimeError("follower ended although the service is still running")
        except Exception as err:  # noqa: BLE001 - a follower must come back, whatever broke it
            if stop.is_set():
                log.debug("follower %s failed while stopping: %s", health.name, err)
                return
            if time.monotonic() - started > cap * 3:
                attempt = 0  # why: it ran fine for a while; start the backoff over
            attempt += 1
            health.down(err)
            health.restarts += 1
            delay = jittered(backoff(attempt, base=base, cap=cap))
            log.error(
                "follower %s failed (%s); restarting in %.1fs (down since %s)",
                health.name,
                health.error,
                delay,
                iso(health.down_since),
                # why: an outage is weather (one line); anything else is a bug (a traceback)
                exc_info=not transient(err),
            )
        await rest(stop, delay)


async def set_within(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass, whichever comes first; whether it was set.
    CancelledError at once if this task was cancelled and the cancel got lost on the way.

    why asyncio.timeout, not wait_for: on Python 3.11 a wait_for cancelled in the loop turn
    its event was set returns as if it had not been cancelled; the cancel is lost, and a task
    that only a cancel ends goes on (a stop that hangs for good). Here it always propagates.
    """
    _cancel_if_asked()
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True  # why: set, even if cleared again before this task ran on (projections' sync)


rest = set_within
"""Wait `seconds` or until stop is set; True if stop is set (set_within, by its callers' name)."""


def _cancel_if_asked() -> None:
    """Raise CancelledError if this task was cancelled and nothing took the cancel.

    why: nats-py's requests still await wait_for, which on Python 3.11 returns a reply that
    lands in the loop turn of a cancel and drops the cancel (the task still counts it:
    Task.cancelling()); a loop that rests between attempts (the lease, heartbeats, probes,
    retries) went on for good, and so did its stop. It ends at its next rest instead.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _run(
    follower: Callable[[], Awaitable[None]],
    health: FollowHealth,
    stop: asyncio.Event,
    up_after: float | None,
    stops_itself: bool,
) -> None:
    """One life of a follower: until it ends or fails, or (unless it stops itself) until stop."""
    task = asyncio.ensure_future(follower())
    stopped = asyncio.ensure_future(stop.wait())
    waits = {task} if stops_itself else {task, stopped}
    try:
        if up_after is not None and health.down_since is not None:
            done, _ = await asyncio.wait(
                waits, timeout=up_after, return_when=asyncio.FIRST_COMPLETED
            )
            if not done and (lasted := health.up()) is not None:
                log.warning("follower %s running again after %.1fs", health.name, lasted)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # why: re-raise what ended it
    finally:
        task.cancel()
        stopped.cancel()
