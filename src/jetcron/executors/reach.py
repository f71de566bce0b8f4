"""What a stopping executor gives up once NATS has stayed out of reach: a result's store (the
journal keeps it, trigger.py), a heartbeat in flight (its key expires, heartbeat.py).

why: one result's publish waits for its ack up to 5 times 5 s. An executor told to stop while
NATS was gone waited that out after its job had ended, ~27 s of a 52 s stop (newcomer20a #16),
where the journal keeps the result either way and the next start stores it. A store cut short
that did reach the stream lands once all the same: the next start publishes a journaled result
only if the run's history has no final event (recovery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from jetcron.errors import InfrastructureError

T = TypeVar("T")
AWAY_S = 1.0
"""How long the connection must have been down, once stopping, before a store is given up
(a reconnect within it, a server restarted at once, still lets the store through)."""
POLL_S = 0.1


class Unreachable(InfrastructureError):
    """The executor stops and NATS has been out of reach for AWAY_S: a store was given up."""

    def __init__(self) -> None:
        super().__init__(f"NATS unreachable for {AWAY_S:g}s while the executor stops")


async def unless_away(
    nc: Any, stopping: asyncio.Event, work: Coroutine[Any, Any, T], away_s: float = AWAY_S
) -> T:
    """`work`'s result, unless `stopping` is set and `nc` stays disconnected `away_s` meanwhile:
    then `work` is cancelled and Unreachable raised."""
    task = asyncio.ensure_future(work)
    away = 0.0
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_S)
            gone = stopping.is_set() and not nc.is_connected
            away = away + POLL_S if gone else 0.0
            if gone and away >= away_s and not task.done():
                raise Unreachable()
        return task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})  # why: its own end, not its error (it was given up)


async def nap(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or until `stopping` is set (a retry's wait is no reason to stay)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stopping.wait()
