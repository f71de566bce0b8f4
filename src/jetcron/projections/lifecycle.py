"""A schedule's life in stretches (not yet created, active, paused, completed, deleted), the
definition in force in each, and the nominal fires each has; pure (from its audit entries).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from jetcron.domain.events import ScheduleStatus, status_after_update
from jetcron.domain.fires import fires_within
from jetcron.projections.audit import AuditEntry

PeriodState = ScheduleStatus


class Window(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The part of a definition that says when it fires (spec.Bounded)."""

    spec: str
    tz: str = "UTC"
    start: datetime | None = None
    end: datetime | None = None
    max_runs: int | None = None
    catchup: str = "latest"
    """Catch-up policy in force (latest, all, none)."""
    jitter_s: float = 0.0


class Evidence(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The stored event a statement rests on."""

    seq: int
    at: datetime
    actor: str
    what: str
    """The event type, e.g. `schedule.paused` or `fire.missed`."""


class Period(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A stretch of the schedule's life, from `start` (exclusive; None: the beginning)."""

    start: datetime | None
    state: PeriodState
    window: Window | None
    """The definition in force (for `absent` before creation: the first one)."""
    evidence: Evidence | None = None
    """The event that began the stretch."""
    reason: str = ""


def lifecycle(entries: Iterable[AuditEntry]) -> list[Period]:
    """The stretches of one schedule's life from its audit entries (oldest first)."""
    periods: list[Period] = []
    fields: dict[str, Any] = {}
    for e in entries:
        state = _STATE_AFTER.get(e.type)
        if state is None:
            continue  # why: run commands (manual triggers, cancels) do not change the lifecycle
        if e.type == "schedule.created":
            fields = {}
        fields.update({k: v[1] for k, v in e.diff.items()})
        evidence = Evidence(seq=e.seq, at=e.at, actor=e.actor, what=e.type)
        window = _window(fields)
        if not periods:
            periods.append(Period(start=None, state="absent", window=window))
        period = Period(start=e.at, state=state, window=window, evidence=evidence, reason=e.reason)
        if e.type == "schedule.updated":
            period = _updated(periods[-1], period, e.reopens)
        periods.append(period)
    return periods


_STATE_AFTER: dict[str, PeriodState] = {
    "schedule.created": "active",
    "schedule.updated": "active",
    "schedule.resumed": "active",
    "schedule.paused": "paused",
    "schedule.completed": "completed",
    "schedule.deleted": "deleted",
}
"""The state each lifecycle event leaves; an update's depends on the state it found (`_updated`)."""


def _updated(before: Period, update: Period, reopens: bool = True) -> Period:
    """The stretch an update begins: the new definition, in the state it found (the
    aggregate's rule, `status_after_update`). A pause goes on: still told by the pause and its
    reason, so the fires after the update are `paused` and the pause ends at the resume."""
    if before.state == "absent":
        return update  # why: the creation is outside our history; an update means it existed
    state = status_after_update(before.state, reopens)
    if state != "paused":
        return msgspec.structs.replace(update, state=state)
    return msgspec.structs.replace(
        update, state=state, evidence=before.evidence, reason=before.reason
    )


def _window(fields: Mapping[str, Any]) -> Window | None:
    if "spec" not in fields:
        return None  # why: the creation is outside our history (retention)
    return Window(
        spec=str(fields["spec"]),
        tz=str(fields.get("tz") or "UTC"),
        start=_instant(fields.get("start")),
        end=_instant(fields.get("end")),
        catchup=_catchup(fields),
        jitter_s=float(fields.get("jitter_s") or 0.0),
    )


def _catchup(fields: Mapping[str, Any]) -> str:
    # why: a creation's diff holds the whole catchup struct; an update's, its dotted fields
    nested = fields.get("catchup") or {}
    return str(fields.get("catchup.policy") or nested.get("policy") or "latest")


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def period_at(periods: Sequence[Period], when: datetime) -> Period | None:
    """The stretch a fire at `when` falls in: started strictly before it (a fire at a pause
    instant was still the active stretch's; a creation's own instant is not a fire of it)."""
    found = None
    for p in periods:
        if p.start is None or p.start < when:
            found = p
    return found


def earlier_schedule(periods: Sequence[Period], when: datetime) -> Period | None:
    """If a fire at `when` was of an earlier schedule of the name (deleted, the name created
    again since), the stretch of the latest creation; else None (the current schedule's, or
    from before the name's first schedule)."""
    p = period_at(periods, when)
    if p is None or p.state == "absent":
        return None
    made = [q for q in periods if q.evidence is not None and q.evidence.what == "schedule.created"]
    latest = made[-1] if made else None
    return (
        latest if latest is not None and latest.start is not None and latest.start >= when else None
    )


def nominal(
    periods: Sequence[Period], since: datetime, until: datetime, limit: int
) -> list[datetime]:
    """Fire times in (since, until] by the definition of each stretch, the oldest `limit`.

    Stretches after completion have no nominal fires, nor the one after the last deletion;
    the one before creation has the first definition's (so a window reaching back shows them
    as `not_created`), and one between a deletion and the name's next creation the deleted
    definition's (shown as `deleted`: the name's life, not a gap; newcomer19c #12).
    """
    out: set[datetime] = set()
    for i, p in enumerate(periods):
        if p.window is None or not _fires_in(periods, i):
            continue
        lo = since if p.start is None else max(since, p.start)
        hi = until if i + 1 == len(periods) else min(until, _start(periods[i + 1], until))
        if lo < hi:
            out.update(fires_within(p.window, lo, until=hi, limit=limit))
    return sorted(out)[:limit]


def latest_nominal(
    periods: Sequence[Period], since: datetime, until: datetime, cap: int
) -> tuple[list[datetime], datetime]:
    """The nominal fires of the latest part of (since, until] that holds fewer than `cap`,
    and where that part starts (`since` itself when the whole window fits)."""
    while True:
        times = nominal(periods, since, until, cap)
        if len(times) < cap:
            return times, since
        # why: fire times are found oldest first; halve the window from its old end until
        # the newest fires, the ones an operator asks about, fit
        since = until - (until - since) / 2


def _fires_in(periods: Sequence[Period], i: int) -> bool:
    """Whether the stretch `i` has nominal fires (see `nominal`)."""
    state = periods[i].state
    if state == "completed":
        return False
    if state != "deleted":
        return True
    # why: a completed schedule would not have fired before its deletion either
    return i + 1 < len(periods) and i > 0 and periods[i - 1].state != "completed"


def _start(period: Period, default: datetime) -> datetime:
    return default if period.start is None else period.start


def resumed_after(periods: Sequence[Period], when: datetime) -> Evidence | None:
    """The event that ended the pause a fire at `when` fell in, if it ended (an update while
    paused does not: its stretch is paused too)."""
    later = (p for p in periods if p.start is not None and p.start >= when and p.state != "paused")
    nxt = next(later, None)
    return None if nxt is None else nxt.evidence
