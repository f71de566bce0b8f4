"""Rollups view: daily statistics per schedule, folded from `stats.rolled_up` (kept forever).

What is due for a rollup (`due`) is pure: the runs view's open days whose UTC day ended more
than a grace period ago. The leader appends one event per (schedule, day) with a Nats-Msg-Id of
both, so two leaders store one; should a second one land anyway (after the dedupe window), the
first rollup of a day wins here, as the first final outcome of a run wins in the runs view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from jetcron.domain.digest import Digest
from jetcron.domain.events import StatsRolledUp, StoredEvent
from jetcron.projections.runs import OpenDay, RunsView

DAYS_KEPT = 400
"""Rolled-up days per schedule held in memory (older ones stay in the log); `stats` spans these."""
DEFAULT_GRACE = timedelta(hours=1)
"""How long after a UTC day ends its late results still count before the day is rolled up."""


class RollupsView(msgspec.Struct, kw_only=True, gc=False):
    """schedule_id -> day (`YYYY-MM-DD`) -> digest of that day's final runs, days in fold order."""

    days: dict[str, dict[str, Digest]] = {}
    names: dict[str, str] = {}
    """schedule_id -> the schedule name of its latest rollup."""


def msg_id(schedule_id: str, day: str) -> str:
    """The dedupe id of one rollup: one per schedule and day, whoever appends it."""
    return f"rollup:{schedule_id}:{day}"


def due(runs: RunsView, now: datetime, grace: timedelta = DEFAULT_GRACE) -> list[OpenDay]:
    """Open days whose UTC day ended at least `grace` before `now`, oldest day first."""
    cutoff = (now - grace).astimezone(UTC).date()
    return sorted(
        (d for d in runs.days.values() if date.fromisoformat(d.day) < cutoff),
        key=lambda d: (d.day, d.schedule_id),
    )


def digests(
    view: RollupsView, schedule_id: str | None, start: datetime | None, end: datetime
) -> Iterator[tuple[str, str, Digest]]:
    """(schedule_id, day, digest) of rolled-up days that overlap (start, end] (all if no start)."""
    first = start.astimezone(UTC).date().isoformat() if start is not None else ""
    last = end.astimezone(UTC).date().isoformat()
    ids = [schedule_id] if schedule_id is not None else list(view.days)
    for sid in ids:
        for day, digest in view.days.get(sid, {}).items():
            if first <= day <= last:
                yield sid, day, digest


def _on_rolled_up(view: RollupsView, event: StatsRolledUp, stored: StoredEvent) -> None:
    days = view.days.get(event.schedule_id)
    if days is None:
        days = view.days[event.schedule_id] = {}
    if event.day in days:
        return  # why: the first rollup of a day wins (a second leader's, past the dedupe window)
    days[event.day] = event.digest
    view.names[event.schedule_id] = event.name
    if len(days) > DAYS_KEPT:
        del days[min(days)]


Handler = Callable[[RollupsView, Any, StoredEvent], None]
HANDLERS: dict[type, Handler] = {StatsRolledUp: _on_rolled_up}
"""Event type -> fold step; the container routes events through this table."""
