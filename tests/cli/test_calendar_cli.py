"""`jetcron calendar ...` and schedules that exclude a calendar, against a live scheduler service
(no executor: runs stay triggered): an excluded fire is recorded as excluded, its neighbour runs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from served import cli, ok

from jetcron.cli.text import utc


def _minute_with_room(seconds: int) -> datetime:
    """Now, after waiting for the next minute if fewer than `seconds` are left in this one."""
    now = datetime.now(UTC)
    if now.second + seconds >= 60:
        time.sleep(60.5 - now.second - now.microsecond / 1e6)
        now = datetime.now(UTC)
    return now


def test_an_excluded_fire_is_recorded_as_excluded_and_its_neighbour_runs(scheduler: str) -> None:
    now = _minute_with_room(14)
    # why: windows start on cron minutes; one that starts every minute and ends 6-7s from now,
    # on an even second, covers the next fires of `@every 2s` and leaves the one at its end
    length = (now.second + 7) // 2 * 2
    window = f"* * * * * for {length}s"
    ok(scheduler, "calendar", "add", "quiet", "--window", window, "-r", "a test")
    ok(scheduler, "schedule", "add", "tick", "@every 2s", "--exclude", "quiet", "--", "true")
    end = now.replace(second=0, microsecond=0) + timedelta(seconds=length)

    coming = json.loads(ok(scheduler, "schedule", "next", "tick", "-n", "3", "--json"))
    assert coming[0]["utc"] == utc(end), coming  # why: next fires leave out the excluded ones
    assert json.loads(ok(scheduler, "schedule", "show", "tick", "--json"))["next_fire"] == utc(end)

    time.sleep(max((end - datetime.now(UTC)).total_seconds(), 0) + 1.5)
    since = utc(end - timedelta(seconds=4))
    rows: list[dict[str, Any]] = json.loads(
        ok(scheduler, "fires", "tick", "--json", "--since", since)
    )
    by_time = {r["utc"]: r for r in rows}
    excluded = utc(end - timedelta(seconds=2))
    reason = f"excluded by quiet (window * * * * * for {length}s)"
    assert by_time[excluded]["fate"] == "skipped", rows
    assert by_time[excluded]["reason"] == reason
    assert by_time[utc(end)]["fate"] == "triggered", rows
    assert f"Excluded by quiet (window * * * * * for {length}s)" in ok(
        scheduler, "why", "tick", excluded
    )
    assert reason in ok(scheduler, "fires", "tick", "--since", since)


def test_calendar_commands_and_refusals_exit_2_with_nothing_appended(scheduler: str) -> None:
    ok(
        scheduler,
        "calendar",
        "add",
        "maint",
        "--tz",
        "Europe/Berlin",
        "--window",
        "0 2 * * sun for 4h",
    )
    ok(scheduler, "calendar", "update", "maint", "--dates", "2026-12-25,2027-01-01")
    shown = json.loads(ok(scheduler, "calendar", "show", "maint", "--json"))
    assert shown["definition"]["dates"] == ["2026-12-25", "2027-01-01"]
    assert shown["definition"]["windows"] == ["0 2 * * sun for 4h"] and shown["version"] == 2
    ok(scheduler, "schedule", "add", "backup", "0 3 * * *", "--exclude", "maint", "--", "true")
    assert "backup (exclude)" in ok(scheduler, "calendar", "list")
    before = json.loads(ok(scheduler, "audit", "--json"))
    cases = [
        (("calendar", "add", "bad", "--window", "0 2 * * sun"), "write 'CRON for DURATION'"),
        (("calendar", "add", "bad", "--range", "2026-12-31..2026-12-01"), "before the first"),
        (("calendar", "add", "bad", "--dates", "2026-13-01"), "'2026-13-01' does not exist"),
        (
            ("calendar", "add", "bad", "--dates", "2026-02-30"),
            "--dates: '2026-02-30' does not exist: February 2026 has 28 days",
        ),
        (("calendar", "add", "bad", "--dates", "30.2.2026"), "'30.2.2026' is not an ISO date"),
        (("calendar", "add", "bad", "--tz", "Mars/Base", "--dates", "2026-12-01"), "Mars/Base"),
        (("calendar", "add", "bad"), "at least one --window, --dates or --range"),
        (("calendar", "add", "maint", "--dates", "2026-12-01"), "'maint' already exists"),
        (("calendar", "update", "nope", "-d", "x"), "calendar 'nope' not found"),
        (("calendar", "show", "nope"), "calendar 'nope' not found"),
        (("calendar", "delete", "nope"), "calendar 'nope' not found"),
        (("calendar", "delete", "maint"), "used by backup (exclude)"),
        (
            ("schedule", "add", "other", "@daily", "--only-within", "nope", "--", "true"),
            "unknown calendar 'nope'",
        ),
        (("schedule", "update", "backup", "--exclude", "nope"), "unknown calendar 'nope'"),
        (("preview", "@daily", "--exclude", "nope"), "unknown calendar 'nope'"),
    ]
    for args, problem in cases:
        result = cli(scheduler, *args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and problem in lines[0], (args, result.stderr)
    assert json.loads(ok(scheduler, "audit", "--json")) == before
    ok(scheduler, "schedule", "update", "backup", "--reset", "exclude")
    ok(scheduler, "calendar", "delete", "maint")
    assert json.loads(ok(scheduler, "calendar", "list", "--json")) == []
    types = [e["type"] for e in json.loads(ok(scheduler, "audit", "--json"))]
    assert types.count("calendar.created") == 1 and "calendar.deleted" in types


def test_apply_and_export_carry_calendars(scheduler: str, tmp_path: Path) -> None:
    doc = {
        "calendars": {"hols": {"tz": "Europe/Berlin", "ranges": ["2026-12-24..2026-12-26"]}},
        "schedules": {"report": {"spec": "0 9 * * *", "command": ["true"], "exclude": ["hols"]}},
    }
    file = tmp_path / "jobs.json"
    file.write_text(json.dumps(doc))
    ok(scheduler, "apply", "-f", str(file))
    exported = json.loads(ok(scheduler, "export"))
    assert exported == doc
    assert "up to date" in ok(scheduler, "apply", "-f", str(file))
    preview = ("preview", "0 9 * * *", "--tz", "Europe/Berlin", "--after", "2026-12-23T12:00")
    fires = json.loads(ok(scheduler, *preview, "--exclude", "hols", "-n", "2", "--json"))
    # why: 24-26 December are whole Berlin days of the range, so 09:00 on them is left out
    assert [f["utc"] for f in fires] == ["2026-12-27T08:00:00Z", "2026-12-28T08:00:00Z"]
    inside = json.loads(ok(scheduler, *preview, "--only-within", "hols", "-n", "4", "--json"))
    assert [f["utc"][:10] for f in inside] == ["2026-12-24", "2026-12-25", "2026-12-26"]
    doc["schedules"]["report"]["exclude"] = ["missing"]
    file.write_text(json.dumps(doc))
    result = cli(scheduler, "apply", "-f", str(file))
    assert result.exit_code == 2, result.output
    # newcomer16a #12: the only apply error that did not name the file
    assert f"{file}: schedules.report.exclude: unknown calendar 'missing'" in result.stderr


def test_delete_is_refused_for_a_schedule_that_named_the_calendar_before_references(
    scheduler: str,
) -> None:
    """A log of the previous release: the schedule's event names the calendar, but no
    calendar.referenced was stored beside it; the views still know, so the CLI refuses."""
    import asyncio

    import nats

    from jetcron import subjects
    from jetcron.domain.definition import Job, ScheduleDefinition
    from jetcron.domain.envelope import Envelope
    from jetcron.domain.events import ScheduleCreated
    from jetcron.log.stream import EventLog

    ok(scheduler, "calendar", "add", "maint", "--window", "0 2 * * sun for 4h")

    async def legacy() -> None:
        nc = await nats.connect(scheduler)
        log = await EventLog(nc).open()
        d = ScheduleDefinition(spec="0 3 * * *", job=Job(command=["true"]), exclude=["maint"])
        event = ScheduleCreated(schedule_id="s-legacy", name="old", version=1, definition=d)
        env = Envelope(id="legacy-1", at=datetime.now(UTC), actor="alice", event=event)
        await log.append(subjects.schedule("old"), [env])
        await log.close()
        await nc.close()

    asyncio.run(legacy())
    deadline = time.monotonic() + 5
    while "old" not in ok(scheduler, "schedule", "list") and time.monotonic() < deadline:
        time.sleep(0.1)
    result = cli(scheduler, "calendar", "delete", "maint")
    assert result.exit_code == 2, result.output
    assert "used by old (exclude)" in result.output
    assert "maint" in ok(scheduler, "calendar", "list")


def test_a_calendar_description_is_shown_as_text_not_markup(scheduler: str) -> None:
    ok(
        scheduler,
        "calendar",
        "add",
        "xmas",
        "--dates",
        "2026-12-25",
        "-d",
        "[bold]closed[/]\tall day",
    )
    refused = cli(scheduler, "calendar", "update", "xmas", "-d", "\x1b[2Kgone")

    shown = ok(scheduler, "calendar", "show", "xmas")

    assert "  [bold]closed[/]\\tall day" in shown.splitlines()
    assert refused.exit_code == 2 and "the description holds a control character" in refused.stderr
