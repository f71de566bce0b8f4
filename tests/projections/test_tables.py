"""Churned maps: a window of keys (insert the newest, delete the oldest) stays at the size of a
copy of what it holds, however many keys went through it (projections/tables.py)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from projection_factory import History

from jetcron.domain.digest import Digest
from jetcron.domain.events import StatsRolledUp
from jetcron.projections import rollups, state, tables

KEPT = 4000


def churn(table: dict[str, int], start: int, times: int, compact: bool) -> dict[str, int]:
    """As a fold does: `times` new keys in, the oldest out for each, the table checked after
    each batch of 100 (if `compact`)."""
    for batch in range(start, start + times, 100):
        for k in range(batch, batch + 100):
            table[f"run-{k}"] = k
            del table[f"run-{k - KEPT}"]
        if compact:
            table = tables.compact(table)
    return table


def copy_size(table: dict[str, int]) -> int:
    return sys.getsizeof(dict(table))


def test_a_churned_dict_doubles_its_table_without_compaction() -> None:
    # the premise: CPython does not reuse deleted slots (if this fails, tables.py is moot)
    plain = churn({f"run-{k}": k for k in range(KEPT)}, KEPT, 20 * KEPT, compact=False)
    assert len(plain) == KEPT
    assert sys.getsizeof(plain) >= 2 * copy_size(plain) - 1024


def test_compacted_churn_stays_at_the_size_of_a_copy() -> None:
    table = {f"run-{k}": k for k in range(KEPT)}
    for n in range(1, 21):
        table = churn(table, n * KEPT, KEPT, compact=True)
        assert len(table) == KEPT
        assert sys.getsizeof(table) == copy_size(table)
    assert list(table) == [f"run-{k}" for k in range(20 * KEPT, 21 * KEPT)]  # order kept


def test_a_followed_table_is_copied_before_it_grows() -> None:
    # given the fold position, the rate keys came in at predicts when the table fills: after
    # the first time it grew, it is copied before CPython rebuilds it at twice the size
    table = {f"run-{k}": k for k in range(KEPT)}
    grew = 0
    for n in range(1, 41):
        before = sys.getsizeof(table)
        for batch in range(n * KEPT, (n + 1) * KEPT, 100):
            table = churn(table, batch, 100, compact=False)
            grew += sys.getsizeof(table) > before
            table = tables.compact(table, 3 * (batch + 100))
        assert sys.getsizeof(table) == copy_size(table)
    assert grew <= 2


def test_compaction_follows_the_keys_down() -> None:
    table = {f"run-{k}": k for k in range(100_000)}
    for k in range(99_000):
        del table[f"run-{k}"]
    smaller = tables.compact(table)
    assert smaller == table
    assert sys.getsizeof(smaller) == copy_size(table) < sys.getsizeof(table) // 10


def test_no_copy_when_it_would_leave_no_room() -> None:
    # a copy of 2/3 of its slots in keys would be full: the next insert would grow it again
    slots = tables.copy_slots(40_000)
    keys = tables.usable(slots)
    table = {f"run-{k}": k for k in range(keys)}
    assert tables.copy_slots(keys) == slots
    assert tables.compact(table) is table


def test_a_table_no_bigger_than_its_copy_is_kept() -> None:
    table = {f"run-{k}": k for k in range(KEPT)}
    assert tables.compact(table) is table
    assert tables.compact(table) is table


def test_folded_views_hold_their_run_maps_at_copy_size() -> None:
    h = History(start=datetime(2026, 3, 2, tzinfo=UTC), step=timedelta(seconds=1))
    names = [f"s{i}" for i in range(20)]
    for name in names:
        h.create(name, spec="* * * * *")
    for i in range(300):
        for name in names:
            run = h.trigger(name, h.now + timedelta(minutes=i))
            h.started(run)
            h.succeeded(run)
    views = state.new_views(keep=50)
    for b in range(0, len(h.events), 200):
        state.apply_batch(views, h.events[b : b + 200])
    for table in (views.runs.rows, views.ledger.entries, views.schedules.marks):
        assert len(table) == 20 * 50
        assert sys.getsizeof(table) == sys.getsizeof(dict(table))


def test_rolled_up_days_beyond_the_kept_stay_at_copy_size() -> None:
    view = rollups.RollupsView()
    first = datetime(2020, 1, 1, tzinfo=UTC).date()
    for n in range(3 * rollups.DAYS_KEPT):
        day = (first + timedelta(days=n)).isoformat()
        event = StatsRolledUp(schedule_id="sid", name="a", day=day, digest=Digest())
        rollups.HANDLERS[StatsRolledUp](view, event, None)  # type: ignore[arg-type]
    days = view.days["sid"]
    assert len(days) == rollups.DAYS_KEPT
    assert min(days) == (first + timedelta(days=2 * rollups.DAYS_KEPT)).isoformat()
    assert sys.getsizeof(days) == sys.getsizeof(dict(days))
