"""After a restore, one object again for what a fold shares between views (its times, its
sequences, a schedule's definition).

why: a fold puts the objects one event gives into every view that keeps them: a fire's time,
its trigger's time and sequence, its result's time are one object in its run row and its
ledger entry, and a definition is one object in the schedule's row and the audit's incarnation.
A decoder makes an object for every value it reads, so restored views held ~1.1 times the
memory of the same views folded (bench.views_memory: 200,500 datetimes folded, 358,000
restored; 101,000 ints, 205,000). Strings are shared by log/sharing.py; datetimes are not
hashed into a pool there (as costly as all the strings), and need not be: the object to share
is the equal one of the row the entry belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jetcron.projections.audit import Incarnation
from jetcron.projections.ledger import LedgerEntry
from jetcron.projections.runs import RunRow
from jetcron.projections.schedules import ScheduleRow


def ledger(entries: Iterable[LedgerEntry], rows: Mapping[str, RunRow]) -> None:
    """Each entry takes its run row's equal times and sequence (as the fold gave them)."""
    get = rows.get
    for entry in entries:
        # why: a skipped fire's row is keyed by its fire id; a missed fire has no row
        row = get(entry.run_id or entry.fire_id)
        if row is not None and row.fire_id == entry.fire_id:
            if entry.fire_time == row.fire_time:
                entry.fire_time = row.fire_time
            if entry.recorded_at == row.triggered_at:
                entry.recorded_at = row.triggered_at
            if entry.result_at is not None and entry.result_at == row.finished_at:
                entry.result_at = row.finished_at
            if entry.seq == row.seq:
                entry.seq = row.seq
        if entry.first_seq == entry.seq:
            entry.first_seq = entry.seq


def definitions(schedules: Iterable[ScheduleRow], known: Mapping[str, Incarnation]) -> None:
    """Each schedule's audit incarnation takes the row's equal definition."""
    for row in schedules:
        incarnation = known.get(row.schedule_id)
        if incarnation is not None and incarnation.definition == row.definition:
            incarnation.definition = row.definition
