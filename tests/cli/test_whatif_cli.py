"""`jetcron schedule update ... --what-if` against a live scheduler service (no executor: runs
stay triggered): it compares the recorded fires with the new spec's and appends nothing."""

from __future__ import annotations

import json
import time

from served import cli, listed, ok


def test_what_if_compares_recorded_fires_and_sends_nothing(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "tick", "@every 1s", "--overlap", "allow", "--", "true")
    time.sleep(4.5)
    audit = ok(scheduler, "audit", "tick", "--json")
    args = ("schedule", "update", "tick", "--spec", "@every 2s", "--what-if", "--window", "1m")

    answer = json.loads(ok(scheduler, *args, "--json", "-n", "3"))
    view = ok(scheduler, *args)

    # why: every 2s keeps the even seconds, drops the odd ones and moves nothing (tol 0.5s)
    assert answer["fires_before"] >= 3 and answer["moved"] == answer["appeared"] == 0, answer
    assert answer["unchanged"] >= 1 and answer["vanished"] >= 1, answer
    assert answer["unchanged"] + answer["vanished"] == answer["fires_before"]
    assert {c["fate"] for c in answer["changes"]} == {"triggered"}
    assert len(answer["next_before"]) == len(answer["next_after"]) == 3
    assert view.startswith("what if tick: '@every 1s' (UTC) -> '@every 2s' (UTC) (nothing changed)")
    assert "vanished  " in view and "was triggered" in view and "next 5 fires" in view
    assert ok(scheduler, "audit", "tick", "--json") == audit
    assert listed(scheduler)["tick"]["spec"] == "@every 1s"


def test_what_if_of_a_change_that_does_not_touch_timing_says_so(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "hello", "@every 1s", "--overlap", "allow", "--", "true")
    time.sleep(2.5)
    args = ("schedule", "update", "hello", "--timeout", "5m", "--what-if", "--window", "1m")

    answer = json.loads(ok(scheduler, *args, "--json"))
    view = ok(scheduler, *args)

    assert answer["timing_changed"] is False and answer["changes"] == [], answer
    assert answer["unchanged"] == answer["fires_before"] == answer["fires_after"] >= 1, answer
    assert view.strip() == (
        "what if hello: this update does not touch its timing ('@every 1s' (UTC)): the fire "
        "times do not change (nothing sent)"
    )
    again = json.loads(
        ok(
            scheduler,
            "schedule",
            "update",
            "hello",
            "--end",
            "2099-01-01T00:00Z",
            "--what-if",
            "--json",
        )
    )
    assert again["timing_changed"] is True, again


BAD = {
    ("--spec", "61 * * * *", "--what-if"): "error: invalid spec '61 * * * *': minute field",
    ("--tz", "Mars/Base", "--what-if"): "error: unknown time zone 'Mars/Base'",
    ("--spec", "@hourly", "--what-if", "--window", "soon"): "error: --window: ",
    ("--spec", "@hourly", "--window", "1d"): "error: --window goes with --what-if",
}


def test_bad_what_if_exits_2_with_one_line_and_appends_nothing(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "daily", "0 3 * * *", "--", "true")
    audit = ok(scheduler, "audit", "daily", "--json")

    results = {args: cli(scheduler, "schedule", "update", "daily", *args) for args in BAD}

    for args, problem in BAD.items():
        r = results[args]
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.startswith(problem) and r.stderr.count("\n") == 1, r.stderr
    assert ok(scheduler, "audit", "daily", "--json") == audit


def test_calendar_what_if_shows_each_user_and_sends_nothing(scheduler: str) -> None:
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    days = ",".join(str(today + timedelta(days=d)) for d in (-1, 0, 1))
    ok(scheduler, "calendar", "add", "quiet", "--dates", "2020-01-01")
    ok(scheduler, "schedule", "add", "tick", "@every 1s", "--overlap", "allow",
       "--exclude", "quiet", "--", "true")  # fmt: skip
    time.sleep(2.5)
    audit = ok(scheduler, "audit", "--json")
    args = ("calendar", "update", "quiet", "--dates", days, "--what-if", "--past", "1m")

    answer = json.loads(ok(scheduler, *args, "--json", "-n", "3"))
    view = ok(scheduler, *args)

    [tick] = answer["schedules"]
    assert (answer["calendar"], tick["schedule"], tick["uses"]) == ("quiet", "tick", "exclude")
    assert tick["fires_before"] >= 2 and tick["vanished"] == tick["fires_before"], tick
    assert tick["fires_after"] == tick["appeared"] == tick["moved"] == 0
    assert len(tick["next_before"]) == 3 and tick["next_after"] == []
    assert view.startswith("what if calendar quiet: [1 date(s)] (UTC) -> [3 date(s)] (UTC)")
    assert "tick (exclude, '@every 1s' UTC):" in view and "vanished  " in view
    assert ok(scheduler, "audit", "--json") == audit
    bad = {
        ("--dates", days, "--what-if", "--past", "soon"): "error: --past: ",
        ("--dates", days, "--past", "1d"): "error: --past goes with --what-if",
        ("--window", "0 2 * * sun", "--what-if"): "error: window '0 2 * * sun': write",
    }
    for extra, problem in bad.items():
        r = cli(scheduler, "calendar", "update", "quiet", *extra)
        assert r.exit_code == 2 and r.stderr.startswith(problem), (extra, r.stderr)
    missing = cli(scheduler, "calendar", "update", "nope", "-d", "x", "--what-if")
    assert missing.exit_code == 2 and "calendar 'nope' not found" in missing.stderr
    assert ok(scheduler, "audit", "--json") == audit
