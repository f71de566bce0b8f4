"""`jetcron fires` and `jetcron why` against a live scheduler service (no executor: runs stay
triggered), as an operator meets them: fires before creation, triggered, during a pause."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from served import cli, listed, ok

from jetcron.cli.text import parse_time, utc
from polling import wait_until


def fires(server: str, *args: str) -> list[dict[str, Any]]:
    return json.loads(ok(server, "fires", "tick", "--json", *args))  # type: ignore[no-any-return]


def test_fires_and_why_tell_each_fire_from_creation_through_a_pause(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "tick", "@every 1s", "--overlap", "allow", "--", "true")
    created = parse_time(listed(scheduler)["tick"]["created_at"])
    since = utc(created - timedelta(seconds=3))
    wait_until(
        lambda: sum(f["fate"] == "triggered" for f in fires(scheduler, "--since", since)) >= 2, 20
    )
    ok(scheduler, "--actor", "bob", "schedule", "pause", "tick", "--reason", "maintenance")
    time.sleep(2.5)

    rows = fires(scheduler, "--since", since)
    table = ok(scheduler, "fires", "tick", "--since", since)
    story = ok(scheduler, "why", "tick")
    # why: half a second past a whole second after the creation (before it, `why` says the
    # schedule did not exist yet)
    not_a_fire = cli(scheduler, "why", "tick", utc(created + timedelta(seconds=1))[:-1] + ".5Z")
    unknown = cli(scheduler, "fires", "nope")

    fates = [f["fate"] for f in rows]
    assert fates[0] == "not_created" and fates[-1] == "paused", fates
    assert "triggered" in fates and "unrecorded" not in fates, fates
    assert fates == sorted(fates, key=["not_created", "triggered", "paused"].index), fates
    first_run = next(f for f in rows if f["fate"] == "triggered")
    assert (first_run["status"], first_run["utc"].endswith("Z")) == ("triggered", True)
    assert "paused by bob at " in table and ": maintenance" in table
    assert "not_created  -         created only at " in table or re.search(
        r"not_created  -         \d fires to \S+Z: created only at ", table
    ), table
    assert [f["fate"] for f in rows].count("not_created") == 1, "one line before the creation"
    heading, *told = story.splitlines()
    assert heading.endswith(": paused")
    assert told[0].startswith("  Not fired: the schedule was paused by bob at ")
    assert "(maintenance)  (seq " in told[0] and told[1] == "  It is still paused"
    # newcomer16a #12: exit 0 here while `schedule skip` exits 2 for the same input
    assert not_a_fire.exit_code == 2 and not not_a_fire.stdout, not_a_fire.output
    [line] = not_a_fire.stderr.splitlines()
    assert line.startswith("error: ") and "is not a fire time of '@every 1s' in UTC; the " in line
    assert (unknown.exit_code, unknown.stderr.strip()) == (2, "error: schedule 'nope' not found")


def test_an_update_while_paused_does_not_end_the_pause(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "tick", "@every 1s", "--overlap", "allow", "--", "true")
    since = utc(parse_time(listed(scheduler)["tick"]["created_at"]))
    wait_until(
        lambda: any(f["fate"] == "triggered" for f in fires(scheduler, "--since", since)), 20
    )
    ok(scheduler, "--actor", "bob", "schedule", "pause", "tick", "--reason", "p1")
    time.sleep(1.5)
    ok(scheduler, "schedule", "update", "tick", "--description", "edited", "--reason", "e1")
    time.sleep(2.5)
    ok(scheduler, "--actor", "bob", "schedule", "resume", "tick", "--reason", "r1")
    wait_until(lambda: fires(scheduler, "--since", since)[-1]["fate"] == "triggered", 20)

    rows = fires(scheduler, "--since", since)
    fates = [f["fate"] for f in rows]
    last_paused = next(f["utc"] for f in reversed(rows) if f["fate"] == "paused")
    story = ok(scheduler, "why", "tick", last_paused)

    # why: the fires after the update were `pending` (then `unrecorded`, "a jetcron bug")
    assert set(fates) <= {"not_created", "triggered", "paused"}, fates
    runs = "".join(f[0] for f in fates)
    assert re.fullmatch(r"n?t+p{3,}t+", runs), runs
    assert "paused by bob at " in story and "(p1)" in story, story
    assert "It was resumed by bob at " in story, story


def test_a_narrow_terminal_keeps_the_fire_times_whole(
    scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # newcomer20c #5: at 70 columns the fire time became `2026-12-03T…` while the header
    # `local (Australia/Lord_Howe)` kept its width
    ok(scheduler, "schedule", "add", "lh", "@every 1s", "--tz", "Australia/Lord_Howe", "--", "true")
    wait_until(
        lambda: any(
            f["fate"] == "triggered"
            for f in json.loads(ok(scheduler, "fires", "lh", "--json", "--since", "1m"))
        ),
        20,
    )
    monkeypatch.setenv("COLUMNS", "80")
    narrow = cli(scheduler, "fires", "lh", "--since", "1m")
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.stdout.splitlines()
    assert lines[0] == "fires of lh (Australia/Lord_Howe)", lines
    row = next(line for line in lines if "triggered" in line)
    assert re.match(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  \d\d-\d\d \d\d:\d\d:\d\d\+1[01]:[03]0  triggered  ", row
    ), row
    assert max(len(line) for line in lines) <= 80, lines
