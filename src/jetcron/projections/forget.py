"""Deleted schedules leave the views: the fold keeps the last `keep_deleted` of them.

why: a deleted schedule kept its row, its audit, its kept runs, fires and marks, and its
rolled-up days in every view for good (~5 KB for a one-shot with one run), so a client that
creates and deletes uniquely named schedules grew `serve` and its snapshot without bound.

The rule is part of the fold, so the same log always gives the same views: when a deletion
leaves more than `keep_deleted` deleted incarnations held (an incarnation retired by a
creation, its delete outside our history, counts from then on), the oldest deleted ones (in
the order they were deleted) are forgotten, each from every view in that same fold step. One is passed over
while it still has a run in flight or a UTC day not yet rolled up (its statistics live only
in the views until then); it goes at a later deletion once both are done. What `stats` over
all history counted of a forgotten schedule stays counted (`RollupsView.forgotten`).
"""

from __future__ import annotations

from bisect import bisect_left

from jetcron.domain import digest
from jetcron.domain.digest import Digest
from jetcron.domain.runs import IN_FLIGHT
from jetcron.projections import stats, tallies
from jetcron.projections.audit import AuditEntry, AuditView
from jetcron.projections.ledger import LedgerView
from jetcron.projections.rollups import RollupsView
from jetcron.projections.runs import FINAL_STATUSES, RunsView
from jetcron.projections.schedules import SchedulesView

DEFAULT_KEEP_DELETED = 1000
"""Deleted schedules the views hold (the most recently deleted); 0 holds every one."""


def due(schedules: SchedulesView, runs: RunsView, keep_deleted: int) -> list[str]:
    """The schedule ids to forget now, oldest deletion first (see the module docstring)."""
    deleted = schedules.deleted
    extra = len(deleted) - keep_deleted
    if not keep_deleted or extra <= 0:
        return []
    out = []
    for sid, row in deleted.items():  # why: in the order they were deleted
        if sid not in runs.opened and not _in_flight(runs, row.name, sid):
            out.append(sid)
            if len(out) == extra:
                break
    return out


def _in_flight(runs: RunsView, name: str, sid: str) -> bool:
    rows = runs.rows
    return any(
        (row := rows[k]).schedule_id == sid and row.status in IN_FLIGHT
        for k in runs.by_schedule.get(name, ())
    )


def schedule(schedules: SchedulesView, sid: str) -> str:
    """Forget a deleted incarnation's row and its outcome marks; its name."""
    row = schedules.deleted.pop(sid)
    for run_id in schedules.ended.pop(sid, ()):
        schedules.marks.pop(run_id, None)
    schedules.forgotten += 1
    return row.name


def runs_of(runs: RunsView, rollups: RollupsView, name: str, sid: str) -> None:
    """Forget its rows (their tallies as if they left the window), its days and rollups; what
    `stats` over all history counted of it moves into `rollups.forgotten`."""
    rows = runs.rows
    keys = [k for k in runs.by_schedule.get(name, ()) if rows[k].schedule_id == sid]
    rolled = rollups.days.get(sid, {})
    loose = Digest()
    mine = set(keys)
    # why: one pass per list (a name in use again holds its new schedule's keys there too)
    for group in (runs.by_schedule, runs.finished, runs.fans):
        if name in group:
            group[name][:] = [k for k in group[name] if k not in mine]
    finished = runs.finished.get(name, [])
    for key in keys:
        row = rows.pop(key)
        runs.tallies.flight.pop(key, None)
        if row.status in FINAL_STATUSES:
            tallies.evicted(runs.tallies, row, rows, finished)
            if digest.day_of(row.fire_time) not in rolled:
                stats.add_row(loose, row)
    for group in (runs.by_schedule, runs.finished, runs.fans):
        if not group.get(name, True):
            del group[name]
    runs.rolled.pop(sid, None)
    for per_sid in (runs.tallies.days, runs.tallies.names, runs.tallies.revs):
        per_sid.pop(sid, None)
    _rollups(rollups, sid, loose)


def _rollups(rollups: RollupsView, sid: str, loose: Digest) -> None:
    total = rollups.totals.pop(sid, None)
    digest.merge([loose] + ([total] if total is not None else []), into=rollups.forgotten)
    for per_sid in (rollups.days, rollups.names, rollups.latest):
        per_sid.pop(sid, None)


def ledger_of(ledger: LedgerView, name: str, sid: str) -> None:
    """Forget its fires."""
    entries = ledger.entries
    keys = [k for k in ledger.by_schedule.get(name, ()) if entries[k].schedule_id == sid]
    mine = set(keys)
    for group in (ledger.by_schedule, ledger.settled):
        kept = [k for k in group.get(name, ()) if k not in mine]
        if kept:
            group[name][:] = kept
        else:
            group.pop(name, None)
    for key in keys:
        del entries[key]


def audit_of(audit: AuditView, sid: str) -> None:
    """Forget its audit entries: its schedule changes and its run commands."""
    entries = audit.entries
    known = audit.known.pop(sid, None)
    for seq in audit.run_entries.pop(sid, ()):
        i = bisect_left(entries, int(seq), key=_seq)
        if i < len(entries) and entries[i].seq == int(seq):
            gone = entries.pop(i)
            if gone.type == "run.triggered":
                audit.triggered.pop(gone.run_id, None)
    if known is None:
        return
    # why: its changes are from its first one on, in log order; a delete is its last
    i = bisect_left(entries, known.seq, key=_seq)
    while i < len(entries):
        entry = entries[i]
        if entry.schedule_id != sid or entry.type.startswith("run."):
            i += 1
            continue
        del entries[i]
        if entry.type == "schedule.deleted":
            return


def _seq(entry: AuditEntry) -> int:
    return entry.seq
