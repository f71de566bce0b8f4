"""`jetcron conflicts` and the warnings of `schedule add/update` against a live scheduler
service: schedules on one target whose runs would overlap, and warnings only for new ones."""

from __future__ import annotations

import json

from served import cli, ok

WARNING = "warning: scrub would overlap backup (target nas): "


def test_conflicts_are_listed_and_warned_about_once(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "backup", "0 3 * * *", "-t", "nas", "--", "true")
    # why: 1m apart: with runs without history taken to last their 1h timeout this was a
    # conflict and a warning; a warning assumes 1m (newcomer18a #6), `conflicts` the timeout
    near = cli(scheduler, "schedule", "add", "check", "1 3 * * *", "-t", "nas", "--", "true")
    ok(scheduler, "schedule", "delete", "check")
    added = cli(scheduler, "schedule", "add", "scrub", "0 3 * * *", "-t", "nas", "--", "true")
    same = cli(scheduler, "schedule", "update", "scrub", "--description", "weekly scrub")
    apart = cli(scheduler, "schedule", "update", "scrub", "--spec", "0 5 * * *")
    ok(scheduler, "schedule", "add", "lights", "0 3 * * *", "-t", "reef", "--", "true")

    listed = json.loads(ok(scheduler, "conflicts", "--json", "--within", "2d"))
    table = ok(scheduler, "conflicts")
    quiet = cli(scheduler, "schedule", "update", "scrub", "--spec", "15 3 * * *")
    back = cli(scheduler, "schedule", "update", "scrub", "--spec", "0 3 * * *")

    # why: no executor serves target nas here, and add says so on a line of its own
    [warned] = [x for x in added.stderr.splitlines() if not x.startswith("note: no executor")]
    assert added.exit_code == 0 and warned.startswith(WARNING), added.stderr
    assert [x for x in near.stderr.splitlines() if x.startswith("warning")] == []
    # why: nobody serves nas here, so no capacity is named: every overlap counts
    assert " overlaps in the next 7d, the first at " in warned
    assert "runs without history are assumed to take 1m (their timeout if shorter)" in warned
    assert warned.endswith("; see `jetcron conflicts --crowded`"), added.stderr
    assert (same.exit_code, same.stderr) == (0, ""), same.stderr  # not new
    assert (apart.exit_code, apart.stderr) == (0, ""), apart.stderr  # 05:00 is clear of 03:00+1h
    assert listed["conflicts"] == [], listed  # lights shares nothing; scrub moved away
    assert table == "no conflicts within 7d\n"
    assert (quiet.exit_code, quiet.stderr) == (0, ""), quiet.stderr  # 15m apart: 1m runs
    assert back.exit_code == 0 and back.stderr.startswith(WARNING), back.stderr
    rows = json.loads(ok(scheduler, "conflicts", "--json"))["conflicts"]
    crowded = json.loads(ok(scheduler, "conflicts", "--json", "--crowded"))
    # why: 6 when the test runs between 03:00 and 03:15 UTC (today's backup has passed)
    assert [(r["a"], r["b"], r["shared"], r["overlaps"] in (6, 7)) for r in rows] == [
        ("backup", "scrub", ["target nas"], True)
    ]
    assert rows[0]["a_run"] == {"seconds": 3600.0, "source": "timeout"}
    assert [r["overlaps"] for r in crowded["conflicts"]] == [r["overlaps"] for r in rows]
    assert crowded["conflicts"][0]["a_run"] == {"seconds": 60.0, "source": "assumed"}
    assert crowded["capacity"] == {"nas": 0}
    assert "backup + scrub  target nas" in ok(scheduler, "conflicts")
    mine = json.loads(ok(scheduler, "conflicts", "--schedule", "lights", "--json"))
    assert (mine["conflicts"], mine["complete"]) == ([], True)
    unknown = cli(scheduler, "conflicts", "--schedule", "nope")
    assert (unknown.exit_code, unknown.stderr) == (2, "error: schedule 'nope' not found\n")


def test_a_bad_within_exits_2(scheduler: str) -> None:
    result = cli(scheduler, "conflicts", "--within", "soon")

    assert result.exit_code == 2 and result.stderr.startswith("error: --within: "), result.stderr


def test_a_dense_pair_is_counted_up_to_where_counting_stopped(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "tick", "@every 5s", "--overlap", "allow", "--", "true")
    added = cli(scheduler, "schedule", "add", "tock", "@every 7s", "--", "true")

    # why: 7 days of `@every 5s` is 120,960 fires, more than FIRES_CAP: the count covers fewer
    # than 7 days and the line says up to when, not "in the next 7d"
    assert added.exit_code == 0 and " overlaps by 20" in added.stderr, added.stderr
    assert "in the next 7d" not in added.stderr
