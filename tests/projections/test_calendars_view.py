"""The calendars view, the audit of calendar changes, and next fires/due leaving out what a
calendar takes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from projection_factory import T0, History, fold

from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.events import CalendarCreated, CalendarDeleted, CalendarUpdated
from jetcron.projections import calendars, health, queries, schedule_queries

NIGHT = CalendarDefinition(windows=["0 2 * * * for 1h"])
"""02:00-03:00 UTC every day."""


def with_calendar(h: History) -> None:
    h.add(CalendarCreated(name="night", version=1, definition=NIGHT), reason="ops")


def test_the_view_follows_create_update_delete_and_names_users() -> None:
    h = History()
    with_calendar(h)
    h.create("backup", "0 * * * *", exclude=["night"])
    h.create("report", "0 * * * *", only_within=["night"])
    h.create("other", "0 * * * *")
    views = fold(h.events)
    assert calendars.definitions(views.calendars) == {"night": NIGHT}
    [row] = queries.list_calendars(views, {}, h.now)
    assert row["used_by"] == {"backup": "exclude", "report": "only_within"}

    moved = CalendarDefinition(windows=["0 4 * * * for 1h"], dates=[date(2024, 1, 3)])
    h.add(CalendarUpdated(name="night", version=2, definition=moved, changed=["windows"]))
    h.add(CalendarDeleted(name="night", version=3), actor="bob")
    views = fold(h.events)
    assert views.calendars.rows == {}
    diffs = [(e.type, e.actor, e.diff) for e in views.audit.entries if e.name == "night"]
    assert diffs == [
        ("calendar.created", "alice", {"windows": [None, ["0 2 * * * for 1h"]]}),
        (
            "calendar.updated",
            "alice",
            {
                "windows": [["0 2 * * * for 1h"], ["0 4 * * * for 1h"]],
                "dates": [[], ["2024-01-03"]],
            },
        ),
        ("calendar.deleted", "bob", {}),
    ]


def test_next_fires_and_due_leave_out_what_a_calendar_takes() -> None:
    h = History()
    with_calendar(h)
    h.create("backup", "0 * * * *", exclude=["night"])
    h.create("report", "0 * * * *", only_within=["night"])
    views = fold(h.events)
    now = datetime(2024, 1, 1, 0, 30, tzinfo=UTC)

    backup = schedule_queries.one_schedule(views, {"name": "backup", "fires": 3}, now)
    assert backup["next_fires"] == [
        "2024-01-01T01:00:00Z",
        "2024-01-01T03:00:00Z",
        "2024-01-01T04:00:00Z",
    ]
    report = schedule_queries.one_schedule(views, {"name": "report", "fires": 2}, now)
    assert report["next_fire"] == "2024-01-01T02:00:00Z"
    assert report["next_fires"] == ["2024-01-01T02:00:00Z", "2024-01-02T02:00:00Z"]
    due = schedule_queries.due(views, {"within_s": 3 * 3600}, now)["fires"]
    assert [(f["utc"][11:16], f["name"]) for f in due] == [
        ("01:00", "backup"),
        ("02:00", "report"),
        ("03:00", "backup"),
    ]


def test_a_schedule_whose_fires_a_calendar_takes_is_not_stale() -> None:
    h = History()
    # why: only within one day long past; every fire since is taken, none is expected
    h.add(CalendarCreated(name="once", version=1, definition=CalendarDefinition(dates=[T0.date()])))
    h.create("daily", "0 3 * * *", only_within=["once"])
    h.create("plain", "0 3 * * *")
    now = T0 + timedelta(days=30)
    report = health.evaluate(fold(h.events), now=now, executors_online={})
    assert [(p.kind, p.subject) for p in report.problems] == [("stale", "plain")]
