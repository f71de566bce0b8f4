"""A health problem: the kinds there are, and how its text writes a time."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from jetcron.projections.queries import iso as _iso

ProblemKind = Literal[
    "failing",
    "flaky",
    "stale",
    "paused_by_system",
    "executor_offline",
    "executor_problem",
    "poison_events",
    "refused_definition",
    "rejected_run_events",
    "expectation_missed",
    "notify_failing",
    "no_ticker_leader",
]


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One thing that is wrong."""

    kind: ProblemKind
    subject: str
    """The schedule name, the executor target, or `projections`."""
    detail: str
    since: datetime | None = None
    """When it began (failing: the first failed run of the streak)."""
    streak: int = 0
    """Failing: failed runs in a row."""


def iso(dt: datetime | None) -> str | None:
    """A time in a problem's text: UTC with a Z, to the second."""
    return None if dt is None else _iso(dt.replace(microsecond=0))
