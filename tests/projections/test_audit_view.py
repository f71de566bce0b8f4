"""Audit view: every schedule change with actor, reason and a diff against the previous version."""

from __future__ import annotations

from datetime import timedelta

from projection_factory import T0, History, fold

from jetcron.domain.definition import Job, RetryPolicy
from jetcron.projections import audit


def test_update_diff_actor_and_reason() -> None:
    h = History()
    h.create("backup", "*/5 * * * *")
    h.update(
        "backup",
        spec="*/10 * * * *",
        job=Job(command=["rsync", "-a", "/src", "/dst"]),
        actor="bob",
        reason="ticket 42: less often",
    )

    entry = fold(h.events).audit.entries[-1]

    assert (entry.type, entry.actor, entry.reason, entry.version) == (
        "schedule.updated",
        "bob",
        "ticket 42: less often",
        2,
    )
    assert entry.diff == {
        "spec": ["*/5 * * * *", "*/10 * * * *"],
        "job.command": [["echo", "hi"], ["rsync", "-a", "/src", "/dst"]],
    }


def test_diff_goes_one_level_into_nested_structs_and_keeps_defaults() -> None:
    h = History()
    h.create("backup")
    h.update("backup", retry=RetryPolicy(max_attempts=3), timeout_s=None, tags=["nightly"])

    entry = fold(h.events).audit.entries[-1]

    assert entry.diff == {
        "retry.max_attempts": [1, 3],
        "timeout_s": [3600.0, None],
        "tags": [[], ["nightly"]],
    }


def test_every_lifecycle_event_is_recorded_in_order() -> None:
    h = History()
    h.create("backup", actor="alice", reason="new backup")
    h.pause("backup", "disk swap", actor="carol")
    h.resume("backup", actor="dave")
    h.complete("backup", reason="run limit reached")
    h.delete("backup", actor="erin", reason="obsolete")

    entries = fold(h.events).audit.entries

    assert [(e.type, e.actor, e.reason, e.version) for e in entries] == [
        ("schedule.created", "alice", "new backup", 1),
        ("schedule.paused", "carol", "disk swap", 2),
        ("schedule.resumed", "dave", "", 3),
        ("schedule.completed", "jetcron", "run limit reached", 4),
        ("schedule.deleted", "erin", "obsolete", 5),
    ]
    assert entries[0].diff["spec"] == [None, "*/5 * * * *"]
    assert all(e.diff == {} for e in entries[1:])
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]


def test_recreated_schedule_is_diffed_against_nothing() -> None:
    h = History()
    h.create("backup", "*/5 * * * *")
    h.delete("backup")
    h.create("backup", "0 * * * *")
    h.update("backup", spec="0 */2 * * *")

    entries = fold(h.events).audit.entries

    assert entries[2].diff["spec"] == [None, "0 * * * *"]
    assert entries[3].diff == {"spec": ["0 * * * *", "0 */2 * * *"]}


def test_query_by_name_and_since() -> None:
    h = History()
    h.create("a")
    h.create("b")
    h.tick(timedelta(hours=1))
    h.pause("a")
    view = fold(h.events).audit

    assert [e.type for e in audit.query(view, name="a")] == ["schedule.created", "schedule.paused"]
    assert [e.name for e in audit.query(view, since=T0 + timedelta(minutes=30))] == ["a"]
    assert [e.name for e in audit.query(view, limit=2)] == ["b", "a"]


def test_update_of_a_schedule_created_before_our_history() -> None:
    h = History()
    h.create("backup")
    h.update("backup", spec="0 * * * *")
    h.update("backup", spec="0 1 * * *")

    entries = fold(h.events[1:]).audit.entries

    assert entries[0].diff["spec"] == [None, "0 * * * *"]
    assert entries[1].diff == {"spec": ["0 * * * *", "0 1 * * *"]}


def test_manual_triggers_and_operator_cancels_are_audited_clock_runs_are_not() -> None:
    h = History()
    h.create("backup")
    clock = h.trigger("backup", T0 + timedelta(minutes=5))
    manual = h.trigger("backup", manual=True, actor="bob", reason="verify the fix")
    h.add(h.events[-1].envelope.event, actor="bob")  # a redelivered copy of the same trigger
    h.cancel_requested(manual, actor="carol", reason="wrong day")
    h.cancel_requested(clock, actor="system:ticker")  # overlap cancel_previous at work

    entries = fold(h.events).audit.entries[1:]

    assert [(e.type, e.actor, e.reason, e.run_id, e.version) for e in entries] == [
        ("run.triggered", "bob", "verify the fix", manual, 1),
        ("run.cancel_requested", "carol", "wrong day", manual, 0),
    ]
    assert [e.type for e in audit.query(fold(h.events).audit, name="backup")][-2:] == [
        "run.triggered",
        "run.cancel_requested",
    ]
