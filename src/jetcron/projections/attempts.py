"""The attempts of one run and the fate of each, folded from the run's own events (`runs show`).

The runs view keeps a run's latest attempt only; an attempt whose executor died (no result, and
a later attempt started elsewhere) is visible only in the run's events, so `runs show` folds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import msgspec

from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import (
    RunCancelled,
    RunFailed,
    RunHandedBack,
    RunLost,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
)

Fate = Literal[
    "running", "succeeded", "failed", "timed_out", "cancelled", "lost", "abandoned", "retried",
    "handed_back",
]  # fmt: skip


class Attempt(msgspec.Struct, kw_only=True, gc=False):
    """One attempt: where and when it started, and what became of it."""

    attempt: int
    executor: str = ""
    started_at: datetime | None = None
    fate: Fate = "running"
    """`retried`: failed or timed out, and a retry followed; `abandoned`: no result ever came,
    and a later attempt started (its executor died or handed it back); `handed_back`: its job
    never started (RunHandedBack), and `started_at` is None."""
    finished_at: datetime | None = None
    duration_s: float | None = None
    detail: str = ""
    """The error, exit code, timeout or reason, for people."""


def attempts(events: Iterable[StoredEvent]) -> list[Attempt]:
    """Every started attempt of a run, in order, with its fate."""
    by_number: dict[int, Attempt] = {}
    for stored in events:
        event, at = stored.envelope.event, stored.envelope.at
        if isinstance(event, RunStarted):
            _abandon_before(by_number, event.attempt)
            by_number.setdefault(
                event.attempt,
                Attempt(attempt=event.attempt, executor=event.executor, started_at=at),
            )
        elif isinstance(event, RunSucceeded | RunFailed | RunTimedOut | RunCancelled | RunLost):
            _end(by_number, event, at)
        elif isinstance(event, RunHandedBack) and (seen := by_number.get(event.attempt)):
            # why: its RunStarted was a claim, not a start: nothing of it ran (newcomer18b F7)
            seen.fate, seen.started_at, seen.finished_at = "handed_back", None, None
            seen.detail = event.reason
    return [by_number[n] for n in sorted(by_number)]


def _end(
    by_number: dict[int, Attempt],
    event: RunSucceeded | RunFailed | RunTimedOut | RunCancelled | RunLost,
    at: datetime,
) -> None:
    """Record the result of the attempt it names (made up if its start is not in the log)."""
    # why: a later attempt's end (a cancel before it started, too) means the earlier one's
    # executor never reported: it is not still running
    _abandon_before(by_number, event.attempt)
    current = by_number.setdefault(
        event.attempt, Attempt(attempt=event.attempt, executor=event.executor)
    )
    current.finished_at = getattr(event, "ended_at", None) or at  # why: as runs.py _finish
    current.executor = current.executor or event.executor
    if not isinstance(event, RunLost):
        current.duration_s = event.duration_s
    match event:
        case RunSucceeded():
            current.fate, current.detail = "succeeded", ""
        case RunFailed():
            current.fate = "retried" if event.next_retry_at else "failed"
            code = f"exited with code {event.exit_code}" if event.exit_code is not None else ""
            current.detail = event.error or code  # why: the executor's error names the code
        case RunTimedOut():
            current.fate = "retried" if event.next_retry_at else "timed_out"
            current.detail = f"timed out after {event.timeout_s:g}s"
        case RunCancelled():
            current.fate, current.detail = "cancelled", event.reason
        case RunLost():
            current.fate, current.detail = "lost", event.reason


def _abandon_before(by_number: dict[int, Attempt], attempt: int) -> None:
    """Attempts before `attempt` that never reported: abandoned, since `attempt` took over."""
    for earlier in by_number.values():
        if earlier.fate == "running" and earlier.attempt < attempt:
            earlier.fate = "abandoned"
            earlier.detail = f"no result; attempt {attempt} took over"
