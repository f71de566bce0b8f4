"""Runs view: one row per run (and per skipped fire), its statuses, how rows are found.

The fold of run events into it: run_fold.py.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable
from datetime import datetime

import msgspec

from jetcron.domain import digest
from jetcron.domain.digest import Digest
from jetcron.domain.events import (
    RunCancelled,
    RunEvent,
    RunFailed,
    RunLost,
    RunSucceeded,
    RunTimedOut,
)
from jetcron.domain.runs import (
    FANNED_OUT,
    RunStatus,
    fanout_member,
    fanout_parent,
)
from jetcron.projections.tallies import Tallies

FINAL_STATUSES: frozenset[str] = frozenset(
    {"succeeded", "failed", "timed_out", "cancelled", "lost", "skipped"}
)
"""Statuses after which nothing changes a run any more."""
CLOSED: frozenset[str] = FINAL_STATUSES | {FANNED_OUT}
"""Statuses no result changes (a fan-out trigger's row: its members have the results)."""
IN_HAND: frozenset[str] = frozenset({"running", "retrying"})
"""Run statuses in which one executor holds the run."""
FAILED_STATUSES: frozenset[str] = digest.FAILED
"""Final statuses that count as a failed run (cancelled and skipped count as neither)."""

# why: redeliveries make events of one run arrive late or twice. Until its first final
# outcome (which wins), a run only moves forward along rank = attempt * 4 + phase; an
# in-progress event behind the run's current rank is stale. A final outcome applies
# whatever its attempt: cancel and lost come from operators and watchdogs that may not know it.
PHASE_DEFERRED, PHASE_STARTED, PHASE_RETRYING = 1, 2, 3
STATUS_PHASE: dict[str, int] = {"triggered": 0, "deferred": 1, "running": 2, "retrying": 3}
TRIGGERED_RANK = 4
"""Rank of a run that was triggered and nothing else yet (attempt 1, phase 0)."""


OUTCOMES: dict[type, RunStatus] = {
    RunSucceeded: "succeeded",
    RunFailed: "failed",
    RunTimedOut: "timed_out",
    RunCancelled: "cancelled",
    RunLost: "lost",
}
"""The final status each result event type leads to (failures: when no retry follows)."""
MAY_RETRY: frozenset[type] = frozenset({RunFailed, RunTimedOut})
"""Result types followed by another attempt when they carry next_retry_at (for exact type
tests in the fold hot loops: isinstance on msgspec Struct classes costs ~5x more)."""


def is_behind(status: str, attempt: int, event_attempt: int, phase: int) -> bool:
    """True if an in-progress event is stale for a run at (status, attempt), or the run ended."""
    current = STATUS_PHASE.get(status)
    return current is None or event_attempt * 4 + phase < attempt * 4 + current


class RunRow(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """One run as it stands; skipped fires appear as rows with status `skipped` and no run_id."""

    run_id: str
    schedule: str
    schedule_id: str
    fire_id: str
    fire_time: datetime
    status: RunStatus
    attempt: int = 1
    executor: str = ""
    exit_code: int | None = None
    triggered_at: datetime | None = None
    started_at: datetime | None = None
    """Start of the first attempt."""
    finished_at: datetime | None = None
    duration_s: float | None = None
    """Duration of the last attempt that reported one."""
    lateness_s: float | None = None
    """First start minus when the fire was due: its nominal time plus its jitter (lateness.py)."""
    jitter_s: float = 0.0
    """The jitter the ticker chose for this clock fire (`RunTriggered.jitter_s`)."""
    failure_class: str = ""
    error: str = ""
    reason: str = ""
    """Why it was skipped, deferred, cancelled or lost."""
    manual: bool = False
    backfill_of: str = ""
    """A backfill run: the slot it ran (`jetcron schedule backfill`)."""
    triggered_by: str = ""
    """Who triggered it: the operator of a manual run, jetcron's ticker otherwise."""
    trigger_reason: str = ""
    """Why, as the operator gave it (`jetcron schedule trigger --reason`)."""
    target: str = ""
    next_retry_at: datetime | None = None
    """Next attempt (retrying) or next admission check (deferred)."""
    deferrals: int = 0
    seq: int = 0
    """Sequence of the row's first event (`replay --verify` compares rows that began after
    the newest expired event)."""


class OpenDay(msgspec.Struct, kw_only=True, gc=False):
    """Final runs of one schedule and UTC day (by fire time) not yet rolled up."""

    schedule_id: str
    name: str
    day: str
    digest: Digest = msgspec.field(default_factory=Digest)


class RunsView(msgspec.Struct, kw_only=True, gc=False):
    """Runs by key (run_id; fire_id for skipped fires), indexed by schedule name.

    Bounded: per schedule, only the last `keep` final rows stay (in the order they became
    final); rows in flight always stay. Every final run is also counted into its day's
    `OpenDay` until the leader rolls that day up (`stats.rolled_up`).
    """

    rows: dict[str, RunRow] = {}
    by_schedule: dict[str, list[str]] = {}
    keep: int = 0
    """Final rows kept per schedule (0: all)."""
    finished: dict[str, list[str]] = {}
    """Schedule name -> keys of its final rows, in the order they became final (the window)."""
    days: dict[str, OpenDay] = {}
    """`<schedule_id>/<day>` -> final runs of that day not yet rolled up."""
    rolled: dict[str, str] = {}
    """schedule_id -> the latest day rolled up; later results of it or earlier days are not counted."""
    tallies: Tallies = msgspec.field(default_factory=Tallies)
    """Running totals of the rows kept, for `stats` (projections/tallies.py)."""
    fans: dict[str, list[str]] = {}
    """Schedule name -> run ids of its fan-out triggers (rows `fanned_out`), oldest first:
    kept like final rows, the last `keep` of them, so members that start late find them."""
    opened: dict[str, int] = {}
    """schedule_id -> how many of `days` are its (a deleted schedule leaves the views only
    once its days are rolled up: projections/forget.py)."""


def get(view: RunsView, run_id: str) -> RunRow | None:
    """One run by id."""
    return view.rows.get(run_id)


def matching(view: RunsView, prefix: str, limit: int = 6) -> list[str]:
    """Run ids starting with `prefix` (the id itself if it is one), at most `limit`, sorted.

    A fan-out member is also found by its short form `<prefix>-<executor>` (as tables show
    it); a prefix that matches one fan-out trigger and its members means the trigger.
    """
    if prefix in view.rows and view.rows[prefix].run_id:
        return [prefix]
    head, member = fanout_parent(prefix), fanout_member(prefix)
    # why: skipped fires are rows keyed by fire id, not runs; they have no run id to match
    if "-" in prefix:
        found = sorted(
            k
            for k, r in view.rows.items()
            if r.run_id and k.startswith(head) and fanout_member(k) == member
        )
        return found[:limit]
    found = sorted(k for k, r in view.rows.items() if k.startswith(prefix) and r.run_id)
    parents = {fanout_parent(k) or k for k in found}
    if len(parents) == 1 and (parent := parents.pop()) in found:
        return [parent]
    return found[:limit]


def query(
    view: RunsView,
    schedule: str | None = None,
    status: str | Collection[str] | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    before: tuple[datetime, str] | None = None,
    schedule_id: str | None = None,
    until: datetime | None = None,
) -> list[RunRow]:
    """Runs newest first by fire time, filtered by schedule name, status(es) and fire time
    (from `since` to `until`, both included).

    `schedule_id` keeps one incarnation of the name (runs are indexed by name, and a name
    deleted and created again holds both schedules' runs). `before` (a row's `order_key`)
    starts after that row: a cursor that new runs cannot shift.
    """
    rows: Iterable[RunRow]
    if schedule is None:
        rows = view.rows.values()
    else:
        rows = (view.rows[k] for k in view.by_schedule.get(schedule, ()))
    if schedule_id is not None:
        rows = (r for r in rows if r.schedule_id == schedule_id)
    if status is not None:
        wanted = {status} if isinstance(status, str) else set(status)
        rows = (r for r in rows if r.status in wanted)
    if since is not None:
        rows = (r for r in rows if r.fire_time >= since)
    if until is not None:
        rows = (r for r in rows if r.fire_time <= until)
    if before is not None:
        rows = (r for r in rows if order_key(r) < before)
    return heapq.nlargest(offset + limit, rows, key=order_key)[offset:]


def error_attempt(row: RunRow) -> int | None:
    """The earlier attempt whose error the row still shows, if the attempt now in flight has
    none yet (newcomer19b F12: attempt 1's error read as attempt 2's); None: it is this one's."""
    if row.error and row.attempt > 1 and row.status in ("triggered", "deferred", "running"):
        return row.attempt - 1
    return None


def order_key(row: RunRow) -> tuple[datetime, str]:
    """Where a run sorts (newest first): its fire time, then its id (runs of one fire differ)."""
    return row.fire_time, row.run_id or row.fire_id


def failure_text(event: RunEvent) -> str:
    """Why a run failed, from its failure event: the error, the timeout, or why it was lost."""
    if isinstance(event, RunTimedOut):
        return f"timed out after {event.timeout_s:g}s"
    if isinstance(event, RunFailed):
        return event.error
    return str(getattr(event, "reason", ""))
