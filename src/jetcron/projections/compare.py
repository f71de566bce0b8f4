"""What `replay --verify` compares once run history has aged out of the log.

The rule, one place: the *horizon* H is one past the newest sequence missing from the log
below the live position (H = 1 when nothing is missing; then the views are compared whole,
byte for byte). Every event from H on is in the log, so a row whose first event is at or after
H is built from the same events on both sides and must be equal. Left out, on both sides:
- runs, fire-ledger entries and run audit entries (manual triggers, cancel requests) whose
  first event, on either side, is before H (their beginning may have expired), with their keys
  in the indexes and windows; fan-out members whose trigger's row is before H or gone (they
  took its facts); schedules' run marks of runs not compared;
- the run-derived fields of schedule rows (counters, last run, failing streak, last fire,
  outstanding missed expectations), the delivery counters of notification sinks, executors
  whose last online/offline event is before H, the open (not yet rolled up) days of
  statistics and the runs' running totals (tallies), the poison count and samples before H, the run claims and the rejected count
  (and rejected samples before H), and what forgotten deleted schedules' runs added to `stats`
  (`rollups.forgotten`: their runs no rolled-up day covered).
Always compared in full: position, keep, schedules' definitions and lifecycle, the schedule
audit (every `schedule.*` entry and the incarnations it diffs against), notification sinks,
the rollups. Which deleted schedules the views still hold (projections/forget.py) is compared
too: a deleted schedule waits there while its runs are in flight or its day is not rolled up,
which both sides see alike unless those runs' events expired in between (a run in flight for
longer than the retention): then the two hold different deleted schedules until it ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jetcron.domain.runs import fanout_parent

RUN_FIELDS = (
    "last_run_id",
    "last_run_at",
    "last_status",
    "runs_total",
    "runs_succeeded",
    "runs_failed",
    "consecutive_failures",
    "failing_since",
    "last_error",
    "last_fire_time",
    "last_success_at",
    "last_failure_at",
    "last_success_run_id",
    "expectations",
)
"""Schedule row fields folded from run, fire and expectation events (history that may be gone)."""
DELIVERY_FIELDS = (
    "delivered",
    "failed",
    "failing",
    "failing_since",
    "last_error",
    "last_delivered_at",
    "retrying",
    "tested_at",
    "test_error",
)
"""Notification row fields folded from deliveries (they age like runs)."""


class Gaps:
    """Finds the horizon while a rebuild reads the log in order: one past the newest gap."""

    def __init__(self) -> None:
        self.next = 1
        self.horizon = 1
        """No sequence at or after this one is missing (so far)."""
        self.horizon_ns = 0
        """Append time of the first event read at or after the horizon (0: none yet)."""
        self.first_ns = 0
        """Append time of the first event read, where the log begins (0: none yet)."""

    def see(self, seqs: Iterable[int], first_ns: int = 0) -> None:
        """Sequences read (decoded or not) in ascending order; `first_ns`: time of the first."""
        for seq in seqs:
            if seq > self.next:
                self.horizon, self.horizon_ns = seq, 0
            if seq >= self.horizon and not self.horizon_ns:
                self.horizon_ns = first_ns
            self.next = seq + 1
            first_ns = 0

    def end(self, last: int) -> None:
        """The read ended at `last`: a missing tail moves the horizon past it."""
        if last >= self.next:
            self.horizon, self.horizon_ns = last + 1, 0


def comparable(a: dict[str, Any], b: dict[str, Any], horizon: int) -> tuple[Any, Any]:
    """Both sides (builtins of Views) reduced to what must be equal given the horizon."""
    if horizon <= 1:
        return a, b
    a, b = _copy(a), _copy(b)
    runs = _early(a["runs"]["rows"], "seq", horizon) | _early(b["runs"]["rows"], "seq", horizon)
    runs |= _orphaned_members(a["runs"]["rows"], b["runs"]["rows"], horizon)
    fires = _early(a["ledger"]["entries"], "first_seq", horizon) | _early(
        b["ledger"]["entries"], "first_seq", horizon
    )
    hosts = _early_hosts(a, horizon) | _early_hosts(b, horizon)
    for side in (a, b):
        _trim_hosts(side, hosts)
        for row in side.get("notifications", {}).get("rows", {}).values():
            for field in DELIVERY_FIELDS:
                row.pop(field, None)
        _trim_runs(side["runs"], runs)
        _trim_keys(side["ledger"], "entries", ("by_schedule", "settled"), fires)
        _trim_audit(side["audit"], horizon)
        _trim_schedules(side["schedules"], side["runs"]["rows"])
        # why: forgotten schedules' runs no day covered are counted there (projections/forget.py)
        side.get("rollups", {}).pop("forgotten", None)
        side.pop("poison", None)
        side.pop("poison_acknowledged", None)  # why: counts of events that may have expired
        side.pop("rejected_acknowledged", None)
        side["poison_samples"] = [s for s in side.get("poison_samples", []) if s[0] >= horizon]
        # why: a rebuild after expiry lacks the triggers of early runs, so their claims differ
        side.pop("claims", None)
        side.pop("rejected", None)
        side["rejected_samples"] = [s for s in side.get("rejected_samples", []) if s[0] >= horizon]
    return a, b


def _copy(views: dict[str, Any]) -> dict[str, Any]:
    # why: the trims rewrite nested dicts; the caller's values stay as they were
    import copy

    return copy.deepcopy(views)


def _early_hosts(views: dict[str, Any], horizon: int) -> set[str]:
    return {k for k, seq in views.get("hosts", {}).get("seq", {}).items() if seq < horizon}


def _trim_hosts(views: dict[str, Any], drop: set[str]) -> None:
    hosts = views.get("hosts")
    if hosts is not None:
        for field in ("online", "seq", "since", "tags", "quiet"):
            if field in hosts:
                hosts[field] = {k: v for k, v in hosts[field].items() if k not in drop}


def _early(rows: dict[str, dict[str, Any]], field: str, horizon: int) -> set[str]:
    return {k for k, row in rows.items() if row.get(field, 0) < horizon}


def _orphaned_members(
    a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]], horizon: int
) -> set[str]:
    """Fan-out members whose trigger may have expired: they took its facts on one side only."""
    out = set()
    for rows in (a, b):
        for key, row in rows.items():
            parent = fanout_parent(str(row.get("run_id", "")))
            if not parent:
                continue
            found = [p for p in (a.get(parent), b.get(parent)) if p is not None]
            if not found or any(p.get("seq", 0) < horizon for p in found):
                out.add(key)
    return out


def _trim_keys(view: dict[str, Any], rows: str, indexes: Iterable[str], drop: set[str]) -> None:
    view[rows] = {k: v for k, v in view[rows].items() if k not in drop}
    for index in indexes:
        trimmed = {g: [k for k in keys if k not in drop] for g, keys in view.get(index, {}).items()}
        view[index] = {g: keys for g, keys in trimmed.items() if keys}


def _trim_runs(view: dict[str, Any], drop: set[str]) -> None:
    _trim_keys(view, "rows", ("by_schedule", "finished", "fans"), drop)
    view.pop("days", None)
    view.pop("opened", None)  # why: the count of those open days
    view.pop("tallies", None)  # why: running totals of the rows, early ones included


def _trim_audit(view: dict[str, Any], horizon: int) -> None:
    entries = [
        e for e in view["entries"] if str(e["type"]).startswith("schedule.") or e["seq"] >= horizon
    ]
    view["entries"] = entries
    kept = {str(e["seq"]) for e in entries}
    triggered = {e.get("run_id") for e in entries if e["type"] == "run.triggered"}
    view["triggered"] = {k: v for k, v in view.get("triggered", {}).items() if k in triggered}
    windows = {g: [s for s in seqs if s in kept] for g, seqs in view.get("run_entries", {}).items()}
    view["run_entries"] = {g: seqs for g, seqs in windows.items() if seqs}


def _trim_schedules(view: dict[str, Any], runs: dict[str, Any]) -> None:
    for rows in (view["rows"], view.get("deleted", {})):
        for row in rows.values():
            for field in RUN_FIELDS:
                row.pop(field, None)
    view["marks"] = {k: v for k, v in view.get("marks", {}).items() if k in runs}
    ended = {g: [r for r in ids if r in runs] for g, ids in view.get("ended", {}).items()}
    view["ended"] = {g: ids for g, ids in ended.items() if ids}
