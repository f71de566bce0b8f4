"""`jetcron schedule skip/unskip` against a live scheduler service (no executor: runs stay
triggered): the skipped fire is not triggered, and next, fires and why say who skipped it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from served import cli, listed, ok

from jetcron.cli.text import utc
from jetcron.domain.fires import next_fires


def test_a_skipped_fire_is_recorded_as_skipped_not_triggered(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "tick", "@every 2s", "--overlap", "allow", "--", "true")
    skipped, other = next_fires("@every 2s", "UTC", datetime.now(UTC) + timedelta(seconds=3), 2)
    iso, other_iso = utc(skipped), utc(other)
    ok(scheduler, "--actor", "alice", "schedule", "skip", "tick", iso, "--reason", "holiday")
    ok(scheduler, "--actor", "alice", "schedule", "skip", "tick", other_iso)
    ok(scheduler, "schedule", "unskip", "tick", other_iso)

    coming = json.loads(ok(scheduler, "schedule", "next", "tick", "-n", "5", "--json"))
    marked = {r["utc"]: r.get("skipped") for r in coming}
    assert marked[iso] == "skipped by alice: holiday" and marked[other_iso] is None, coming
    assert "skipped by alice: holiday" in ok(scheduler, "schedule", "next", "tick", "-n", "5")

    time.sleep(max((other - datetime.now(UTC)).total_seconds(), 0) + 1.5)
    since = utc(skipped - timedelta(seconds=1))
    rows: list[dict[str, Any]] = json.loads(
        ok(scheduler, "fires", "tick", "--json", "--since", since)
    )
    by_time = {r["utc"]: r for r in rows}
    assert by_time[iso]["fate"] == "skipped", rows
    assert by_time[iso]["reason"] == "skipped by alice: holiday"
    assert by_time[other_iso]["fate"] == "triggered", rows
    assert "Skipped by alice: holiday" in ok(scheduler, "why", "tick", iso)
    assert "skipped by alice: holiday" in ok(scheduler, "fires", "tick", "--since", since)


def test_bad_skips_exit_2_and_append_nothing(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "daily", "0 3 * * *", "--tz", "Europe/Berlin", "--", "true")
    before = json.loads(ok(scheduler, "audit", "daily", "--json"))
    cases = {
        "2030-01-01T03:30": "is not a fire time of '0 3 * * *' in Europe/Berlin; the nearest are "
        "2030-01-01T02:00:00Z (03:00 CET Europe/Berlin) and 2030-01-02T02:00:00Z",
        "2020-01-01T03:00": "has passed",
        "yesterday": "TIME 'yesterday': use ISO-8601",
    }
    for when, problem in cases.items():
        result = cli(scheduler, "schedule", "skip", "daily", when)
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and problem in lines[0], result.stderr
    unknown = cli(scheduler, "schedule", "skip", "nope", "03:00")
    assert unknown.exit_code == 2 and "nope" in unknown.stderr
    assert json.loads(ok(scheduler, "audit", "daily", "--json")) == before


def test_audit_names_the_skipped_fire(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "daily", "0 3 * * *", "--tz", "Europe/Berlin", "--", "true")
    ok(scheduler, "--actor", "alice", "schedule", "skip", "daily", "2030-01-01T03:00", "-r", "nye")
    ok(scheduler, "schedule", "unskip", "daily", "2030-01-01T03:00")
    entries = json.loads(ok(scheduler, "audit", "daily", "--json"))
    skips = [(e["type"], e["actor"], e.get("reason"), e["diff"]) for e in entries[1:]]
    assert skips[0] == (
        "schedule.fire_skip_planned",
        "alice",
        "nye",
        {"skip": [None, "2030-01-01T02:00:00Z"]},
    )
    assert skips[1][0] == "schedule.fire_skip_cancelled"
    assert skips[1][3] == {"skip": ["2030-01-01T02:00:00Z", None]}


def test_list_shows_the_next_fire_that_runs_as_next_marks_the_skipped_one(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "backup", "0 3 * * *", "--", "true")
    ok(scheduler, "calendar", "add", "quiet", "--window", "0 12 * * * for 1h")
    ok(scheduler, "schedule", "add", "cal", "0 3 * * *", "--exclude", "quiet", "--", "true")
    for name in ("backup", "cal"):  # the fast path, and the one through calendars
        shown = ok(scheduler, "schedule", "next", name, "-n", "2", "--json")
        skipped, after = (r["utc"] for r in json.loads(shown))
        ok(scheduler, "schedule", "skip", name, skipped)

        coming = json.loads(ok(scheduler, "schedule", "next", name, "-n", "2", "--json"))
        assert [r["utc"] for r in coming] == [skipped, after] and "skipped" in coming[0], coming
        assert listed(scheduler)[name]["next_fire"] == after
        [line] = [r for r in ok(scheduler, "schedule", "list").splitlines() if r.startswith(name)]
        assert after in line and skipped not in line, line
        due = [
            r
            for r in json.loads(ok(scheduler, "due", "--within", "3d", "--json"))
            if r["name"] == name
        ]
        assert [(r["utc"], r.get("skipped", "")[:10]) for r in due[:2]] == [
            (skipped, "skipped by"),
            (after, ""),
        ]


def test_a_wall_time_lost_in_a_gap_is_no_fire_of_an_interval_like_spec(scheduler: str) -> None:
    # newcomer20c #1: */15 has no fire at 02:15 of a spring-forward night; the skip must not
    # land on 02:30 (a real fire the operator never named)
    _every_15m_on_lord_howe(scheduler)
    result = cli(scheduler, "schedule", "skip", "lh", "2027-10-03T02:15")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "02:15 does not exist on 2027-10-03 in Australia/Lord_Howe" in lines[0]
    assert (
        "interval-like spec has no fire in the gap; the nearest are 2027-10-02T15:15:00Z "
        in lines[0]
    )
    assert "(01:45 +10:30 Australia/Lord_Howe) and 2027-10-02T15:30:00Z (02:30 +11:00" in lines[0]
    assert "gap rule" not in lines[0]
    # a fixed-time spec keeps the gap rule: 02:30 means the fire at the gap's end
    ok(scheduler, "schedule", "add", "night", "30 2 * * *", "--tz", "Europe/Berlin", "--", "true")
    out = ok(scheduler, "schedule", "skip", "night", "2027-03-28T02:30")
    assert "2027-03-28T01:00:00Z will be skipped" in out, out


def test_a_repeated_wall_time_says_the_first_pass_was_taken_and_names_the_second(
    scheduler: str,
) -> None:
    # nc21b #8: Lord Howe repeats 01:30-02:00 on 2027-04-04; */15 fires in both passes
    _every_15m_on_lord_howe(scheduler)
    first = cli(scheduler, "schedule", "skip", "lh", "2027-04-04T01:45")
    assert first.exit_code == 0, first.output
    assert "2027-04-03T14:45:00Z will be skipped" in first.stdout, first.output
    note = (
        "note: 01:45 occurs twice on 2027-04-04 in Australia/Lord_Howe; taking the first, "
        "01:45 +11:00 (2027-04-03T14:45:00Z); for the second, 01:45 +10:30, give "
        "2027-04-04T01:45+10:30"
    )
    assert note in " ".join(first.stderr.split()), first.stderr
    second = cli(scheduler, "schedule", "skip", "lh", "2027-04-04T01:45+10:30")
    assert second.exit_code == 0 and "2027-04-03T15:15:00Z will be skipped" in second.stdout
    assert "occurs twice" not in second.stderr, second.stderr


def test_an_update_that_moves_a_skipped_fire_away_says_the_skip_no_longer_matches(
    scheduler: str,
) -> None:
    # nc21b #9: skip lon 01:30, then --spec '31 1 * * *': the skip went quiet
    ok(scheduler, "schedule", "add", "lon", "30 1 * * *", "--tz", "Europe/London", "--", "true")
    ok(scheduler, "--actor", "alice", "schedule", "skip", "lon", "2030-01-01T01:30", "-r", "nye")
    moved = cli(scheduler, "schedule", "update", "lon", "--spec", "31 1 * * *")
    assert moved.exit_code == 0, moved.output
    assert (
        "note: the fire at 2030-01-01T01:30:00Z (skipped by alice: nye) is no fire time now: the "
        "skip no longer matches a fire (it applies again if a change brings that fire back)"
    ) in " ".join(moved.stderr.split()), moved.stderr
    back = cli(scheduler, "schedule", "update", "lon", "--spec", "30 1 * * *")
    assert back.exit_code == 0 and "no longer matches" not in back.stderr, back.output
    other = cli(scheduler, "schedule", "update", "lon", "--timeout", "5m")
    assert other.exit_code == 0 and "no longer matches" not in other.stderr, other.output


def test_a_second_skip_or_an_unskip_of_a_running_fire_says_how_it_stands(scheduler: str) -> None:
    # newcomer20c #11: a second skip's reason was silently dropped behind "nothing to change"
    ok(scheduler, "schedule", "add", "daily", "0 3 * * *", "--tz", "Europe/Berlin", "--", "true")
    ok(scheduler, "--actor", "alice", "schedule", "skip", "daily", "2030-01-01T03:00", "-r", "nye")
    again = ok(scheduler, "schedule", "skip", "daily", "2030-01-01T03:00", "-r", "other")
    assert again.strip() == (
        "daily: nothing to change: the fire at 2030-01-01T02:00:00Z is already skipped by "
        "alice: nye"
    )
    free = ok(scheduler, "schedule", "unskip", "daily", "2030-01-02T03:00")
    assert free.strip() == (
        "daily: nothing to change: the fire at 2030-01-02T02:00:00Z is not skipped"
    )


def _every_15m_on_lord_howe(scheduler: str) -> None:
    """Schedule `lh`, */15 in Australia/Lord_Howe (a 30-minute DST shift: gaps and repeats)."""
    ok(
        scheduler,
        "schedule",
        "add",
        "lh",
        "*/15 * * * *",
        "--tz",
        "Australia/Lord_Howe",
        "--",
        "true",
    )
