"""How jetcron's long-lived processes treat Python's memory: the cycle collector paused while a
fold loads the log, and the heap's free pages given back after a big rewrite or a burst of
reading.

One place for these rules: the ticker's load, `serve`'s catch-up and a client-side replay all
fold millions of events and keep most of what they allocate.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
from collections.abc import Callable, Iterator

BURST_EVENTS = 50_000
"""Events read since the heap was last given back that make a burst (`AfterBursts`): about
five pull batches, and at 1,000 events a second one give-back a minute (~50 ms at 3M events)."""


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the block (a load or a replay), back on after.

    why: a fold allocates several objects per event and keeps most of them, so the
    collector's full passes come every few batches and each walks everything loaded so far:
    a third of a 100k-schedule ticker load, a sixth of a replay's fold (measured). What a
    fold keeps is acyclic (views and entries are gc=False Structs); cycles made meanwhile
    elsewhere wait for the collector until the block ends.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _libc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, where there is one."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_TRIM = _libc_trim()


def give_back() -> None:
    """Collect cyclic garbage and hand the heap's free pages back to the OS.

    why: the fold replaces rows all day and a snapshot allocates the views' size in bytes
    once; the freed memory stayed in the process (glibc keeps it). The growth benchmark's
    live serve went from 1M to 3M events at 438 -> 595 MiB without this and 438 -> 458 MiB
    with it (measured 2026-12-02); it costs ~50 ms at 1M events, once per snapshot.
    """
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)


class AfterBursts:
    """Gives the heap back once a follower is at the log's end again after reading a burst.

    why: a pull batch is up to 10,000 events (~5 MB of payloads, two in flight), and each
    payload over 512 bytes and each decoded string that long (a run's output) is a glibc
    chunk, freed once folded between the chunks the views keep. Folding a burst (a catch-up, a
    fleet's results after an outage) left its high water resident until the next snapshot's
    give-back, which waits for 10,000 more events: 21-54 MiB of free heap in a serve that had
    followed 1.5-2.5M events of the growth history (`malloc_trim` then gave them back;
    measured 2026-12-03 with bench/serve_memory.py)."""

    def __init__(self, count: Callable[[], int], burst: int = BURST_EVENTS) -> None:
        self.count, self.burst = count, burst
        self._mark = count()
        self.given = 0
        """How many times the heap was given back."""

    def quiet(self) -> None:
        """The follower holds everything the log held a moment ago: give back after a burst."""
        read = self.count()
        if read - self._mark >= self.burst:
            self._mark = read
            self.given += 1
            give_back()
