"""Lines that name a CLI command reach the API and the console worded for the web.

Each line is made by its source (the error, the decider, the query, the health check), so a
source worded anew without a row in web/wording.py fails here instead of showing a browser
user a command it cannot run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jetcron.domain.calendar import in_use, unknown_calendar
from jetcron.domain.commands import CreateSchedule, ResumeSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.errors import CommandRejected, NotificationNotFound
from jetcron.domain.events import ScheduleCompleted, ScheduleCreated
from jetcron.errors import InvalidInput, NoAnswerInTime, NotPermitted, ServiceUnavailable
from jetcron.log.heartbeats import ExecutorInfo, shell_refusal
from jetcron.projections import fire_story, health
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
    from jetcron.domain.events import CalendarCreated
    from jetcron.domain.notifications import SinkOptions
    from jetcron.domain.notify_events import NotificationAdded

    cal = CalendarDefinition(dates=[AT.date()])
    made = CalendarCreated(name="quiet", version=1, definition=cal)
    again = CreateCalendar(**_meta("quiet"), definition=cal)  # type: ignore[arg-type]
    hook = SinkOptions(subject="ops.alerts").notification("ops")
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
        str(unknown_calendar("nosuch")),
        fire_story._forgotten(None, [])[0].text,  # type: ignore[arg-type]
        # client.test_notification's line (it needs a leader that never answers): its text
        "no delivery recorded within 15s: is a scheduler (`jetcron serve`/`up`) running?",
        # executors.runlog's run error for a missing secret (it needs the secrets bucket): its
        # text; tests/web/test_console_schedule.py gets it from a real run
        "secret TOKEN: 'nope' not found for target 'default' "
        "(put it with `jetcron schedule update sec4 --secret-env TOKEN=@FILE`)",
        # log.heartbeats.shell_refusal: a shell job's warning (web/job_notes.py)
        str(
            shell_refusal(
                [ExecutorInfo(name="vm", targets=["default"], allow_shell=False)], "default"
            )
        ),
    ]


CLI_OPTION = re.compile(r"(?<![\w-])--[a-z]|\bTIME\b")


def _raised(make: Any) -> str:
    with pytest.raises((InvalidInput, CommandRejected)) as caught:
        make()
    return str(caught.value)


def _notification_option_lines() -> list[str]:
    from jetcron.domain.notifications import SinkOptions

    return [
        _raised(lambda: SinkOptions().notification("ops")),
        _raised(lambda: SinkOptions(webhook="ftp://x").notification("ops")),
        _raised(lambda: SinkOptions(subject="a", secret="s").notification("ops")),
        _raised(lambda: SinkOptions(subject="a b").notification("ops")),
        _raised(lambda: SinkOptions(subject="jetcron.cmd.x").notification("ops")),
        _raised(lambda: SinkOptions(subject="a", on=["x"]).notification("ops")),
        _raised(lambda: SinkOptions(subject="a", window="soon").notification("ops")),
        _raised(lambda: SinkOptions(subject="a", timeout="soon").notification("ops")),
        _raised(lambda: SinkOptions(command="").notification("ops")),
        _raised(lambda: SinkOptions(command="'open").notification("ops")),
        _raised(lambda: SinkOptions(command="echo $HOME > /tmp/x").notification("ops")),
    ]


def _backfill_and_fires_lines() -> list[str]:
    from jetcron.projections import backfill
    from jetcron.projections.fire_queries import fires_window

    later = AT + timedelta(hours=1)
    return [
        _raised(lambda: backfill.overlap_of("often", "skip")),
        _raised(lambda: backfill.parallel("allow", 0)),
        _raised(lambda: backfill.parallel("skip", 3)),
        backfill.verdict({"fate": "triggered", "status": "succeeded"}, rerun=False),
        _raised(lambda: backfill.range_of(later, AT, AT)),
        _raised(lambda: backfill.range_of(AT, later, AT)),
        _raised(
            lambda: fires_window(
                new_views(),
                {"since": later.isoformat(), "until": AT.isoformat()},
                later,
                later - AT,
            )
        ),
    ]


def _skip_calendar_and_job_lines() -> list[str]:
    from jetcron.domain.calendar import CalendarDefinition, validate_calendar
    from jetcron.domain.validation import validate_definition
    from jetcron.projections.skips import coming_fire

    row = {"definition": {"spec": "0 3 * * *", "job": {"command": ["true"]}}}
    action_params = ScheduleDefinition(spec="0 3 * * *", job=Job(command=["true"], params={"a": 1}))
    return [
        _raised(lambda: coming_fire(row, "soon", AT)),
        _raised(lambda: coming_fire(row, "03:30", AT)),
        _raised(lambda: coming_fire(row, "2026-03-01T03:00Z", AT)),
        _raised(lambda: validate_calendar(CalendarDefinition())),
        _raised(lambda: validate_definition(action_params)),
    ]


def cli_option_lines() -> list[str]:
    """Every line shared code words with a CLI option (or argument) that reaches the gateway:
    the backfill, notification, fires, skip, calendar and schedule routes."""
    return [
        *_notification_option_lines(),
        *_backfill_and_fires_lines(),
        *_skip_calendar_and_job_lines(),
    ]


def test_no_cli_option_reaches_the_web() -> None:
    lines = cli_option_lines()
    assert all(CLI_OPTION.search(line) for line in lines), lines  # the CLI's own wording
    for line in lines:
        worded = for_web(line)
        assert not CLI_OPTION.search(worded), f"{line!r} -> {worded!r}"


def test_options_are_named_as_the_web_takes_them() -> None:
    said = {for_web(line) for line in cli_option_lines()}
    assert (
        "max_parallel 3 goes with overlap allow: with skip the schedule runs one run at a time"
        in said
    )
    assert "succeeded (rerun: true runs it again)" in said
    assert "invalid webhook 'ftp://x': use an http(s):// URL" in said
    assert "a calendar needs at least one of windows, dates, ranges" in said
    assert any(s.startswith("since 2026-03-01T13:00:00Z is after until ") for s in said), said
    assert any(s.startswith("time '03:30': ") for s in said), said
    shell = next(s for s in said if "needs a shell" in s)
    assert shell.endswith('say so: "command": ["sh", "-c", "echo $HOME > /tmp/x"]'), shell


def test_what_a_user_typed_keeps_its_options() -> None:
    line = 'invalid --command "echo --on \'x": No closing quotation'
    assert for_web(line) == 'invalid command "echo --on \'x": No closing quotation'
    assert for_web("shorten --retention") == "shorten --retention"  # no field of any body


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
    assert (
        "secret TOKEN: 'nope' not found for target 'default': it must be put into the secrets "
        "bucket first (the web cannot put secrets)"
    ) in said
    assert (
        "unknown calendar 'nosuch': add the calendar first (the console's Calendars page, or "
        "POST /api/v1/calendars)"
    ) in said


def test_a_runs_error_keeps_what_the_job_said() -> None:
    from jetcron.web.wording import run_for_web

    row = {"error": "cannot start 'x --to y': no such file", "status": "failed"}
    assert run_for_web(dict(row)) == row  # options in a job's words stay


def test_problems_carry_the_web_wording_and_other_lines_stay() -> None:
    line = str(ServiceUnavailable("query `runs`"))
    assert Problem(503, line).body("/x")["detail"] == for_web(line) != line
    plain = "invalid spec '61 * * * *': minute 61 out of range 0-59"
    assert for_web(plain) == plain
