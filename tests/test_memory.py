"""The memory rules of long-lived processes (jetcron/memory.py)."""

from __future__ import annotations

import gc
import weakref

import pytest

from jetcron import memory


def test_the_collector_is_off_inside_and_back_on_after() -> None:
    assert gc.isenabled()
    with memory.collector_paused():
        assert not gc.isenabled()
        with memory.collector_paused():  # why: a replay inside a paused load leaves it paused
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_comes_back_after_an_error() -> None:
    with pytest.raises(RuntimeError), memory.collector_paused():
        raise RuntimeError("fold failed")
    assert gc.isenabled()


def test_give_back_collects_cycles() -> None:
    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    gc.disable()
    try:
        del a, b
        assert gone() is not None  # why: a cycle waits for the collector
        memory.give_back()
        assert gone() is None
    finally:
        gc.enable()


def test_the_heap_is_given_back_once_a_follower_is_quiet_after_a_burst(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given: list[int] = []
    read = [1_000]
    monkeypatch.setattr(memory, "give_back", lambda: given.append(read[0]))
    bursts = memory.AfterBursts(lambda: read[0], burst=100)
    read[0] += 99
    bursts.quiet()
    assert given == [], "less than a burst since the start"
    read[0] += 1
    bursts.quiet()
    bursts.quiet()
    assert given == [1_100], "once per burst, however often it is quiet"
    read[0] += 250
    bursts.quiet()
    assert (given, bursts.given) == ([1_100, 1_350], 2)
