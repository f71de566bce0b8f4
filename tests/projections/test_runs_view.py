"""Runs view: given events, when folded, then each run row says what happened to it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from projection_factory import T0, History, fold

from jetcron.projections import attempts, runs

FIRE = T0 + timedelta(minutes=5)


def given_run(**trigger: object) -> tuple[History, str]:
    """A schedule `backup` with one triggered run, fired at FIRE, triggered 1s later."""
    h = History(start=FIRE)
    h.create("backup")
    h.now = FIRE
    return h, h.trigger("backup", FIRE, **trigger)  # type: ignore[arg-type]


def test_trigger_start_succeed() -> None:
    h, run = given_run()
    h.started(run)
    h.succeeded(run, duration_s=12.5)

    row = fold(h.events).runs.rows[run]

    assert (row.status, row.attempt, row.executor, row.exit_code) == ("succeeded", 1, "host-a", 0)
    assert row.triggered_at == FIRE + timedelta(seconds=1)
    assert row.started_at == FIRE + timedelta(seconds=2)
    assert row.finished_at == FIRE + timedelta(seconds=3)
    assert (row.lateness_s, row.duration_s) == (2.0, 12.5)
    assert (row.schedule, row.target, row.manual) == ("backup", "default", False)


def test_a_result_stored_late_is_finished_when_its_job_ended() -> None:
    """newcomer16b F5: reported from the journal 8 s after its job ended (executor killed)."""
    h, run = given_run()
    h.started(run)
    ended = h.next_at()
    h.tick(timedelta(seconds=8))
    h.succeeded(run, duration_s=2.0, ended_at=ended)

    views = fold(h.events)
    row = views.runs.rows[run]

    assert row.finished_at == ended == row.started_at + timedelta(seconds=1)
    assert [a.finished_at for a in attempts.attempts(h.events)] == [ended]


def test_failure_with_retries_then_success() -> None:
    h, run = given_run()
    h.started(run, attempt=1)
    h.failed(run, attempt=1, retry_in=timedelta(seconds=30), error="disk busy")
    retry_at = h.now + timedelta(seconds=30)
    retrying = fold(h.events).runs.rows[run]
    h.started(run, attempt=2, executor="host-b")
    running = fold(h.events).runs.rows[run]
    h.succeeded(run, attempt=2, executor="host-b")
    done = fold(h.events).runs.rows[run]

    assert (retrying.status, retrying.attempt, retrying.error) == ("retrying", 1, "disk busy")
    assert retrying.next_retry_at == retry_at
    assert retrying.finished_at is None
    assert (running.status, running.attempt, running.next_retry_at) == ("running", 2, None)
    assert (done.status, done.attempt, done.executor, done.error) == ("succeeded", 2, "host-b", "")
    assert done.lateness_s == 2.0  # measured from the first start


@pytest.mark.parametrize(
    ("retry_in", "status"),
    [(None, "timed_out"), (timedelta(minutes=1), "retrying")],
    ids=["final", "retried"],
)
def test_timeout(retry_in: timedelta | None, status: str) -> None:
    h, run = given_run()
    h.started(run)
    h.timed_out(run, retry_in=retry_in, timeout_s=60)

    row = fold(h.events).runs.rows[run]

    assert (row.status, row.failure_class, row.error) == (status, "timeout", "timed out after 60s")
    assert (row.finished_at is None) == (retry_in is not None)


def test_final_failure() -> None:
    h, run = given_run()
    h.started(run)
    h.failed(run, exit_code=3, error="no such file")

    row = fold(h.events).runs.rows[run]

    assert (row.status, row.exit_code, row.error, row.failure_class) == (
        "failed",
        3,
        "no such file",
        "transient",
    )


def test_skipped_fire_is_a_row_keyed_by_fire_id() -> None:
    h = History()
    h.create("backup")
    fire = h.skipped("backup", FIRE, reason="previous run still going")

    row = fold(h.events).runs.rows[fire]

    assert (row.status, row.run_id, row.reason, row.fire_time) == (
        "skipped",
        "",
        "previous run still going",
        FIRE,
    )


def test_lost() -> None:
    h, run = given_run()
    h.started(run)
    h.lost(run)

    row = fold(h.events).runs.rows[run]

    assert (row.status, row.reason) == ("lost", "no result within timeout + grace")
    assert row.finished_at == h.now


def test_deferred_then_started() -> None:
    h, run = given_run()
    h.deferred(run, deferrals=1)
    h.deferred(run, deferrals=2, reason="load 4.0")
    deferred = fold(h.events).runs.rows[run]
    h.started(run)
    started = fold(h.events).runs.rows[run]

    assert (deferred.status, deferred.deferrals, deferred.reason) == ("deferred", 2, "load 4.0")
    assert deferred.next_retry_at == h.now - timedelta(seconds=1) + timedelta(seconds=30)
    assert (started.status, started.deferrals, started.next_retry_at) == ("running", 2, None)


def test_manual_trigger() -> None:
    h, run = given_run(manual=True, actor="bob", reason="hotfix deployed, check it")

    row = fold(h.events).runs.rows[run]

    assert (row.manual, row.status) == (True, "triggered")
    assert (row.triggered_by, row.trigger_reason) == ("bob", "hotfix deployed, check it")


def test_run_ids_resolve_by_unique_prefix() -> None:
    h = History(start=FIRE)
    h.create("backup")
    made = [h.trigger("backup", FIRE + timedelta(minutes=5 * i)) for i in range(40)]
    h.skipped("backup", FIRE + timedelta(hours=9))
    view = fold(h.events).runs
    shared = next(p for p in (r[:1] for r in made) if sum(r.startswith(p) for r in made) > 1)

    assert runs.matching(view, made[0]) == [made[0]]
    assert runs.matching(view, made[0][:8]) == [made[0]]
    assert runs.matching(view, shared) == sorted(r for r in made if r.startswith(shared))[:6]
    assert runs.matching(view, "zz") == []
    assert runs.matching(view, h.sid("backup")) == []  # a skipped fire's key is not a run id


def test_cancel_keeps_the_current_attempt() -> None:
    h, run = given_run()
    h.started(run, attempt=1)
    h.failed(run, attempt=1, retry_in=timedelta(seconds=5))
    h.started(run, attempt=2)
    h.cancelled(run, reason="maintenance")

    row = fold(h.events).runs.rows[run]

    assert (row.status, row.attempt, row.reason) == ("cancelled", 2, "maintenance")


# -- interleavings that look out of order but are valid ------------------------------------


def test_result_before_started() -> None:
    h, run = given_run()
    h.succeeded(run)
    h.started(run)  # a redelivered start, appended after the result

    row = fold(h.events).runs.rows[run]

    assert row.status == "succeeded"
    assert row.started_at == FIRE + timedelta(seconds=3)
    assert row.lateness_s == 3.0


def test_redelivered_start_after_retrying_failure_is_stale() -> None:
    h, run = given_run()
    h.started(run, attempt=1)
    h.failed(run, attempt=1, retry_in=timedelta(seconds=30))
    h.started(run, attempt=1)

    assert fold(h.events).runs.rows[run].status == "retrying"


def test_late_failure_of_previous_attempt_is_stale() -> None:
    h, run = given_run()
    h.started(run, attempt=1)
    h.failed(run, attempt=1, retry_in=timedelta(seconds=30))
    h.started(run, attempt=2)
    h.failed(run, attempt=1, retry_in=timedelta(seconds=30))

    row = fold(h.events).runs.rows[run]

    assert (row.status, row.attempt) == ("running", 2)


def test_duplicate_result_changes_nothing() -> None:
    h, run = given_run()
    h.started(run)
    h.succeeded(run, duration_s=1.0)
    once = fold(h.events).runs.rows[run]
    h.succeeded(run, duration_s=9.0)
    h.failed(run)

    row = fold(h.events).runs.rows[run]

    assert (row.status, row.duration_s, row.finished_at) == ("succeeded", 1.0, once.finished_at)


def test_run_without_trigger_in_history() -> None:
    h, run = given_run()
    h.started(run)
    h.succeeded(run)
    views = fold(h.events[2:])  # the creation and the trigger fell out of retention

    row = views.runs.rows[run]

    assert (row.status, row.schedule, row.triggered_at) == ("succeeded", "backup", None)
    assert views.poison == 0


# -- queries -----------------------------------------------------------------------------


def test_query_newest_first_with_filters() -> None:
    h = History()
    h.create("a")
    h.create("b")
    fires = [T0 + timedelta(minutes=m) for m in range(5)]
    a_runs = [h.trigger("a", f) for f in fires]
    b_run = h.trigger("b", fires[2])
    h.succeeded(a_runs[1])
    h.failed(a_runs[3])
    view = fold(h.events).runs

    assert [r.run_id for r in runs.query(view, schedule="a")] == a_runs[::-1]
    assert [r.run_id for r in runs.query(view, schedule="a", limit=2, offset=1)] == [
        a_runs[3],
        a_runs[2],
    ]
    assert [r.run_id for r in runs.query(view, status=("succeeded", "failed"))] == [
        a_runs[3],
        a_runs[1],
    ]
    assert [r.run_id for r in runs.query(view, since=fires[3])] == [a_runs[4], a_runs[3]]
    assert [r.run_id for r in runs.query(view, schedule="b")] == [b_run]
    assert runs.query(view, schedule="nope") == []
    assert runs.get(view, b_run) is view.rows[b_run]


def test_recreated_schedule_keeps_old_runs_on_old_incarnation() -> None:
    h = History()
    old_id = h.create("backup")
    old_run = h.trigger("backup", FIRE)
    h.delete("backup")
    new_id = h.create("backup")
    new_run = h.trigger("backup", FIRE + timedelta(minutes=5))
    h.succeeded(old_run)  # a late result of the deleted incarnation
    view = fold(h.events).runs

    assert (view.rows[old_run].schedule_id, view.rows[old_run].status) == (old_id, "succeeded")
    assert view.rows[new_run].schedule_id == new_id
    assert [r.run_id for r in runs.query(view, schedule="backup")] == [new_run, old_run]
