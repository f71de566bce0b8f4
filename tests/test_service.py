"""serve's composition root: the collector pause of its start-up (the rest runs end to end)."""

from __future__ import annotations

import asyncio
import gc

from jetcron.service_steps import CollectorPause


async def test_the_collector_is_off_until_the_reader_has_caught_up() -> None:
    assert gc.isenabled()
    current, stop = asyncio.Event(), asyncio.Event()
    pause = CollectorPause()
    try:
        waiting = asyncio.ensure_future(pause.until(current, stop))
        await asyncio.sleep(0)
        assert not gc.isenabled(), "off while the log is read"
        current.set()
        await waiting
        assert gc.isenabled(), "on once caught up"
        pause.end()  # why: service.run also ends it on the way out; a second end is a no-op
        assert gc.isenabled()
    finally:
        gc.enable()


async def test_a_pause_begun_with_the_collector_off_leaves_it_off() -> None:
    gc.disable()
    try:
        pause = CollectorPause()
        await pause.until(asyncio.Event(), _set(asyncio.Event()))
        assert not gc.isenabled()
    finally:
        gc.enable()


def _set(event: asyncio.Event) -> asyncio.Event:
    event.set()
    return event


async def test_a_reader_that_never_catches_up_ends_the_pause_after_a_while() -> None:
    pause = CollectorPause()
    try:
        await pause.until(asyncio.Event(), asyncio.Event(), at_most_s=0.01)
        assert gc.isenabled()
    finally:
        gc.enable()
