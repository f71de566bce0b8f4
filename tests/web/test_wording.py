"""Lines that name a CLI command reach the API and the console worded for the web.

Each line is made by its source (the error, the decider, the query, the health check), so a
source worded anew without a row in web/wording.py fails here instead of showing a browser
user a command it cannot run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from jetcron.domain.calendar import in_use
from jetcron.domain.commands import CreateSchedule, ResumeSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.errors import CommandRejected, NotificationNotFound
from jetcron.domain.events import ScheduleCompleted, ScheduleCreated
from jetcron.errors import NoAnswerInTime, NotPermitted, ServiceUnavailable
from jetcron.projections import health
from jetcron.projections.queries import _no_single_run
from jetcron.projections.state import new_views
from jetcron.scheduler import calendars, decider, notifications
from jetcron.web.problems import Problem
from jetcron.web.wording import for_web

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
CLI_COMMAND = re.compile(r"`(jetcron|health|serve)\b|\bjetcron (schedule|calendar|notify|runs)\b")


def _meta(name: str) -> dict[str, object]:
    return {"name": name, "command_id": "c1", "at": AT, "actor": "t", "reason": ""}


def _rejection(decide: object, state: object, command: object) -> str:
    with pytest.raises(CommandRejected) as caught:
        decide(state, command)  # type: ignore[operator]
    return str(caught.value)


def _decider_lines() -> list[str]:
    definition = ScheduleDefinition(spec="0 * * * *", job=Job(command=["true"]))
    created = ScheduleCreated(schedule_id="s1", name="tank", version=1, definition=definition)
    done = ScheduleCompleted(schedule_id="s1", name="tank", version=2)
    create = CreateSchedule(**_meta("tank"), definition=definition)  # type: ignore[arg-type]
    return [
        _rejection(decider.decide, decider.fold([created]), create),
        _rejection(decider.decide, decider.fold([created, done]), ResumeSchedule(**_meta("tank"))),  # type: ignore[arg-type]
    ]


def _calendar_and_notification_lines() -> list[str]:
    from jetcron.domain.calendar import CalendarDefinition
    from jetcron.domain.commands import AddNotification, CreateCalendar
    from jetcron.domain.events import CalendarCreated, NotificationAdded
    from jetcron.domain.notifications import notification_of

    cal = CalendarDefinition(dates=[AT.date()])
    made = CalendarCreated(name="quiet", version=1, definition=cal)
    again = CreateCalendar(**_meta("quiet"), definition=cal)  # type: ignore[arg-type]
    hook = notification_of("ops", subject="ops.alerts")
    added = NotificationAdded(name="ops", notification=hook)
    add = AddNotification(**_meta("ops"), notification=hook)  # type: ignore[arg-type]
    return [
        _rejection(calendars.decide_calendar, calendars.fold([made]), again),
        _rejection(notifications.decide, notifications.fold([added]), add),
    ]


def _health_lines() -> list[str]:
    views = new_views()
    views.poison, views.poison_acknowledged = 3, 1
    report = health.evaluate(views, now=AT, executors_online={})
    return [p.detail for p in report.problems]


def cli_worded_lines() -> list[str]:
    """Every line a service words for the CLI that reaches the gateway."""
    return [
        str(ServiceUnavailable("query `schedules`")),
        str(NotPermitted("command `pause`", "jetcron.cmd.pause")),
        str(NoAnswerInTime("`pause`", 3, command=True)),
        str(NotificationNotFound("ops")),
        _no_single_run("abc", []),
        _no_single_run("abc", [], keep=20),
        *_decider_lines(),
        *_calendar_and_notification_lines(),
        *_health_lines(),
        in_use("quiet", {f"s{i:02}": "exclude" for i in range(12)}),
        # client.test_notification's line (it needs a leader that never answers): its text
        "no delivery recorded within 15s: is a scheduler (`jetcron serve`/`up`) running?",
    ]


def test_no_cli_command_reaches_the_web() -> None:
    lines = cli_worded_lines()
    assert all(CLI_COMMAND.search(line) for line in lines), lines  # the CLI's own wording
    for line in lines:
        worded = for_web(line)
        assert not CLI_COMMAND.search(worded), f"{line!r} -> {worded!r}"


def test_what_the_web_says_instead() -> None:
    said = {for_web(line) for line in cli_worded_lines()}
    assert "schedule 'tank' already exists: edit it instead" in said
    assert "schedule 'tank' is completed; edit it to give it a new spec" in said
    assert "no run 'abc': see the runs list" in said
    assert (
        "no jetcron service answered query `schedules`: the jetcron scheduler service is not "
        "running, or not connected to this NATS"
    ) in said
    assert any(s.endswith("see the projection log, then acknowledge them") for s in said), said
    assert any(s.endswith('first (set their "exclude" or "only_within" to null)') for s in said)


def test_problems_carry_the_web_wording_and_other_lines_stay() -> None:
    line = str(ServiceUnavailable("query `runs`"))
    assert Problem(503, line).body("/x")["detail"] == for_web(line) != line
    plain = "invalid spec '61 * * * *': minute 61 out of range 0-59"
    assert for_web(plain) == plain
