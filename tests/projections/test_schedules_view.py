"""Schedules view: lifecycle state, who changed it, run counters and the next fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from projection_factory import T0, History, fold

from jetcron.projections import lifecycle, schedule_queries, schedules


def test_created_schedule() -> None:
    h = History()
    sid = h.create("backup", "0 3 * * *", actor="bob")

    row = fold(h.events).schedules.rows["backup"]

    assert (row.schedule_id, row.state, row.version, row.created_by) == (sid, "active", 1, "bob")
    assert row.created_at == row.updated_at == T0 + timedelta(seconds=1)
    assert row.definition.spec == "0 3 * * *"
    assert (row.runs_total, row.last_run_id, row.last_status) == (0, "", "")


def test_run_counters_and_last_run() -> None:
    h = History()
    h.create("backup")
    ok = h.trigger("backup", T0)
    h.started(ok)
    h.succeeded(ok)
    retried = h.trigger("backup", T0 + timedelta(minutes=5))
    h.failed(retried, retry_in=timedelta(seconds=10))  # not a final failure: not counted
    h.failed(retried, attempt=2)
    lost = h.trigger("backup", T0 + timedelta(minutes=10))
    h.lost(lost)
    running = h.trigger("backup", T0 + timedelta(minutes=15))
    h.started(running)

    row = fold(h.events).schedules.rows["backup"]

    assert (row.runs_total, row.runs_succeeded, row.runs_failed) == (4, 1, 2)
    assert row.consecutive_failures == 2
    assert (row.last_run_id, row.last_status) == (running, "running")
    assert row.last_fire_time == T0 + timedelta(minutes=15)
    assert row.last_success_at is not None and row.last_failure_at is not None
    assert row.last_success_at < row.last_failure_at


def test_success_resets_consecutive_failures() -> None:
    h = History()
    h.create("backup")
    for minute in range(3):
        h.failed(h.trigger("backup", T0 + timedelta(minutes=minute)))
    h.succeeded(h.trigger("backup", T0 + timedelta(minutes=3)))

    row = fold(h.events).schedules.rows["backup"]

    assert (row.runs_failed, row.runs_succeeded, row.consecutive_failures) == (3, 1, 0)


def test_duplicate_results_count_once() -> None:
    h = History()
    h.create("backup")
    run = h.trigger("backup", T0)
    h.succeeded(run)
    h.succeeded(run)
    h.failed(run)
    h.events.append(h.events[1])  # a redelivered trigger at the same seq: the container drops it

    row = fold(h.events).schedules.rows["backup"]

    assert (row.runs_total, row.runs_succeeded, row.runs_failed) == (1, 1, 0)


def test_pause_and_resume_record_actor_and_reason() -> None:
    h = History()
    h.create("backup")
    h.pause("backup", "disk swap tonight", actor="carol")
    paused = fold(h.events).schedules.rows["backup"]
    h.resume("backup", actor="dave")
    resumed = fold(h.events).schedules.rows["backup"]

    assert (paused.state, paused.paused_by, paused.paused_reason) == (
        "paused",
        "carol",
        "disk swap tonight",
    )
    assert (paused.version, paused.updated_by, paused.paused_by_system) == (2, "carol", False)
    assert (resumed.state, resumed.paused_by, resumed.paused_reason) == ("active", "", "")
    assert (resumed.version, resumed.updated_by) == (3, "dave")


def test_paused_by_system() -> None:
    h = History()
    h.create("backup")
    h.pause("backup", "3 consecutive failures", by_system=True, actor="jetcron")

    row = fold(h.events).schedules.rows["backup"]

    assert (row.paused_by_system, row.paused_by) == (True, "jetcron")


def test_completed_then_updated_is_active_again() -> None:
    h = History()
    h.create("once", "@at 2024-01-02T00:00:00Z")
    h.complete("once")
    completed = fold(h.events).schedules.rows["once"]
    h.update("once", spec="@at 2024-02-01T00:00:00Z")
    updated = fold(h.events).schedules.rows["once"]

    assert completed.state == "completed"
    assert (updated.state, updated.definition.spec, updated.version) == (
        "active",
        "@at 2024-02-01T00:00:00Z",
        3,
    )


def test_an_update_that_gives_a_completed_schedule_no_fires_leaves_it_completed() -> None:
    """newcomer16a 4: `schedule update three --timeout 5m` after its run limit said active."""
    h = History()
    h.create("three", "@every 5s", max_runs=1)
    h.complete("three")
    h.update("three", timeout_s=300.0, reopens=False)
    views = fold(h.events)
    row = views.schedules.rows["three"]
    periods = lifecycle.lifecycle(e for e in views.audit.entries if e.name == "three")

    assert (row.state, row.definition.timeout_s, row.version) == ("completed", 300.0, 3)
    assert [p.state for p in periods] == ["absent", "active", "completed", "completed"]
    after = T0 + timedelta(minutes=1)
    assert lifecycle.nominal(periods, after, after + timedelta(minutes=1), limit=10) == []


def test_delete_then_recreate_with_same_name() -> None:
    h = History()
    old_id = h.create("backup")
    old_run = h.trigger("backup", T0)
    h.delete("backup")
    deleted = fold(h.events).schedules
    new_id = h.create("backup", "0 * * * *")
    h.succeeded(old_run)  # late result of the old incarnation
    view = fold(h.events).schedules

    assert "backup" not in deleted.rows and deleted.deleted[old_id].state == "deleted"
    new, old = view.rows["backup"], view.deleted[old_id]
    assert (new.schedule_id, new.runs_total, new.runs_succeeded, new.version) == (new_id, 0, 0, 1)
    assert (old.runs_total, old.runs_succeeded, old.last_status) == (1, 1, "succeeded")
    assert schedules.by_id(view, old_id) is old
    assert schedules.by_id(view, new_id) is new
    assert schedules.get(view, "backup") is new


def test_missed_and_skipped_fires_move_last_fire_time_manual_runs_do_not() -> None:
    h = History()
    h.create("backup")
    h.missed("backup", T0 + timedelta(minutes=5))
    h.skipped("backup", T0 + timedelta(minutes=10))
    h.trigger("backup", T0 + timedelta(hours=1), manual=True)

    row = fold(h.events).schedules.rows["backup"]

    assert row.last_fire_time == T0 + timedelta(minutes=10)
    assert (row.runs_total, row.last_status) == (1, "triggered")


def test_events_of_unknown_schedules_are_ignored() -> None:
    h = History()
    h.create("backup")
    h.update("backup", spec="0 * * * *")
    h.pause("backup")
    run = h.trigger("backup", T0)
    h.started(run)

    views = fold(h.events[1:])  # the creation fell out of retention

    assert (views.schedules.rows, views.poison) == ({}, 0)


def test_query_sorted_by_name_and_filtered_by_state() -> None:
    h = History()
    for name in ("c", "a", "b"):
        h.create(name)
    h.pause("b")
    view = fold(h.events).schedules

    assert [r.name for r in schedules.query(view)] == ["a", "b", "c"]
    assert [r.name for r in schedules.query(view, state="paused")] == ["b"]


NOW = datetime(2024, 3, 1, 10, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, datetime(2024, 3, 1, 10, 10, tzinfo=UTC)),
        ({"start": datetime(2024, 3, 2, 0, 0, tzinfo=UTC)}, datetime(2024, 3, 2, 0, 0, tzinfo=UTC)),
        ({"end": datetime(2024, 3, 1, 10, 9, tzinfo=UTC)}, None),
        (
            {"end": datetime(2024, 3, 1, 10, 10, tzinfo=UTC)},
            datetime(2024, 3, 1, 10, 10, tzinfo=UTC),
        ),
        ({"tz": "Europe/Berlin", "spec": "0 12 * * *"}, datetime(2024, 3, 1, 11, 0, tzinfo=UTC)),
    ],
    ids=["plain", "start-in-future-is-a-fire", "past-end", "end-inclusive", "zone"],
)
def test_next_fire(fields: dict[str, Any], expected: datetime | None) -> None:
    h = History()
    h.create("backup", str(fields.pop("spec", "*/5 * * * *")), **fields)
    row = fold(h.events).schedules.rows["backup"]

    assert schedules.next_fire(row, NOW) == expected


@pytest.mark.parametrize("action", ["pause", "complete", "delete"])
def test_no_next_fire_unless_active(action: str) -> None:
    h = History()
    sid = h.create("backup")
    getattr(h, action)("backup")
    view = fold(h.events).schedules
    row = schedules.by_id(view, sid)

    assert row is not None and schedules.next_fire(row, NOW) is None


@pytest.mark.parametrize(
    ("fields", "until", "limit", "expected"),
    [
        pytest.param({}, None, 3, [10, 15, 20], id="limit"),
        pytest.param({}, datetime(2024, 3, 1, 10, 15, tzinfo=UTC), 9, [10, 15], id="until"),
        pytest.param(
            {"end": datetime(2024, 3, 1, 10, 20, tzinfo=UTC)}, None, 9, [10, 15, 20], id="end"
        ),
        pytest.param(
            {"start": datetime(2024, 3, 1, 10, 15, tzinfo=UTC)}, None, 2, [15, 20], id="start"
        ),
        pytest.param({}, None, 0, [], id="none-asked"),
    ],
)
def test_next_fires(
    fields: dict[str, Any], until: datetime | None, limit: int, expected: list[int]
) -> None:
    h = History()
    h.create("backup", "*/5 * * * *", **fields)
    views = fold(h.events)
    row = views.schedules.rows["backup"]

    assert [f.minute for f in schedules.next_fires(row, NOW, limit, until)] == expected
    if until is None:
        shown = schedule_queries.one_schedule(views, {"name": "backup", "fires": limit}, NOW)
        assert [int(f[14:16]) for f in shown["next_fires"]] == expected


def test_due_stops_at_the_end() -> None:
    h = History()
    h.create("backup", "*/5 * * * *", end=datetime(2024, 3, 1, 10, 20, tzinfo=UTC))

    due = schedule_queries.due(fold(h.events), {"within_s": 3600}, NOW)

    assert [r["utc"] for r in due["fires"]] == [
        "2024-03-01T10:10:00Z",
        "2024-03-01T10:15:00Z",
        "2024-03-01T10:20:00Z",
    ]
