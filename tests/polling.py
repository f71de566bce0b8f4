"""Waiting in tests for something another task or process does: poll a check until it holds.

One loop for every test (`until` in async tests, `wait_until` in blocking ones): a check is a
function returning something true once the condition holds (`until` also takes a coroutine
function); that value is returned. Past `within` seconds an AssertionError names `what` and
the last value seen, so a timed-out wait says what it waited for.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
What = str | Callable[[], str]
"""What is waited for (a callable: built on failure, e.g. a log's tail; '': the condition)."""


async def until(
    check: Callable[[], T | Awaitable[T]],
    within: float = 15.0,
    what: What = "",
    *,
    done: Callable[[T], object] = bool,
    every: float = 0.05,
) -> T:
    """Await `check()` (awaited if it returns an awaitable) until `done` holds for it; that."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if done(value):  # type: ignore[arg-type]
            return value  # type: ignore[return-value]
        _expire(deadline, within, what, value)
        await asyncio.sleep(every)


def wait_until(check: Callable[[], T], within: float = 15.0, what: What = "", **how: Any) -> T:
    """`until` for a blocking test: the same arguments (`done`, `every`: 0.2 s here), and
    `time.sleep` between the calls."""
    done: Callable[[T], object] = how.pop("done", bool)
    every: float = how.pop("every", 0.2)
    assert not how, f"wait_until takes done and every, not {sorted(how)}"
    deadline = time.monotonic() + within
    while not done(value := check()):
        _expire(deadline, within, what, value)
        time.sleep(every)
    return value


def _expire(deadline: float, within: float, what: What, last: Any) -> None:
    if time.monotonic() >= deadline:
        said = (what() if callable(what) else what) or "the condition"
        shown = repr(last)
        shown = shown if len(shown) <= 2000 else shown[:2000] + "..."
        raise AssertionError(f"{said}: not within {within:g}s (last: {shown})")
