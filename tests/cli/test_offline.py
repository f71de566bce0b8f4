"""CLI commands that need no server, and the errors users meet when nothing is running."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from conftest import free_port
from jetcron.cli.main import app

runner = CliRunner()


def test_preview_json_has_utc_and_local() -> None:
    result = runner.invoke(
        app,
        [
            "preview",
            "30 2 * * *",
            "--tz",
            "Europe/Berlin",
            "--after",
            "2026-03-28T00:00:00Z",
            "-n",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0] == {
        "utc": "2026-03-28T01:30:00Z",
        "local": "2026-03-28T02:30:00+01:00",
        "tz": "Europe/Berlin",
    }
    # why: 02:30 does not exist on 29 March in Berlin; fixed-time fires at the gap's end, 03:00 CEST
    assert (
        rows[1]["utc"] == "2026-03-29T01:00:00Z" and rows[1]["local"] == "2026-03-29T03:00:00+02:00"
    )
    assert rows[1]["dst"] == [
        "02:30 does not exist on 2026-03-29 in Europe/Berlin; per the gap rule it fires at 03:00 CEST"
    ]


def test_preview_table_notes_what_dst_does() -> None:
    result = runner.invoke(
        app, ["preview", "30 2 * * *", "--tz", "Europe/Berlin", "--after", "2026-10-24", "-n", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "02:30 occurs twice on 2026-10-25 in Europe/Berlin" in result.stdout
    assert "first pass only (CEST)" in result.stdout


def test_preview_with_no_fires_left_names_the_time_it_looked_after() -> None:
    # nc21b #11: "no fires after that time" never said which time (the implicit now)
    at = runner.invoke(app, ["preview", "@at 2020-01-01T00:00Z", "--after", "2021-05-01T10:00Z"])
    assert at.exit_code == 0, at.output
    assert at.stdout.strip() == "no fires after 2021-05-01T10:00:00Z"


def test_preview_says_which_fires_a_gap_swallowed_of_an_interval_like_spec() -> None:
    # nc21b #8: the gap day's 01:00-01:40 fires are not there; the next row says why
    args = ["preview", "*/20 1 * * *", "--tz", "Europe/London", "--after", "2027-03-27T02:00"]
    result = runner.invoke(app, [*args, "-n", "1", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["utc"] == "2027-03-29T00:00:00Z", rows
    assert rows[0]["dst"] == [
        "the clocks jumped from 01:00 to 02:00 on 2027-03-28 in Europe/London: no fire at "
        "01:00, 01:20, 01:40 (an interval-like spec has no fire in the gap)"
    ]


@pytest.mark.parametrize(
    ("spec", "utc", "note"),
    [
        ("@at 2026-03-29T02:30", "2026-03-29T01:00:00Z",
         "02:30 does not exist on 2026-03-29 in Europe/Berlin; per the gap rule it fires at 03:00 CEST"),
        ("@at 2026-10-25T02:30", "2026-10-25T00:30:00Z",
         "02:30 occurs twice on 2026-10-25 in Europe/Berlin; a one-off fires on the first pass (02:30 CEST)"),
        ("@at 2026-10-25T02:30+01:00", "2026-10-25T01:30:00Z", None),
        ("@at 2026-06-01T02:30", "2026-06-01T00:30:00Z", None),
    ],
    ids=["at-spring-gap", "at-autumn-overlap", "at-with-offset", "at-summer"],
)  # fmt: skip
def test_preview_notes_what_dst_does_to_an_at(spec: str, utc: str, note: str | None) -> None:
    args = ["preview", spec, "--tz", "Europe/Berlin", "--after", "2026-03-01", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["utc"] == utc and row.get("dst") == ([note] if note else None), row


def test_preview_table() -> None:
    result = runner.invoke(
        app, ["preview", "@every 90s", "-n", "3", "--after", "2026-01-01T00:00:00Z"]
    )
    assert result.exit_code == 0
    assert "2026-01-01T00:01:30Z" in result.stdout


def test_preview_invalid_spec_exit_2_one_line() -> None:
    result = runner.invoke(app, ["preview", "61 * * * *"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "minute" in lines[0] and "61" in lines[0]


def test_preview_invalid_tz_suggests() -> None:
    result = runner.invoke(app, ["preview", "@daily", "--tz", "Europe/Berln"])
    assert result.exit_code == 2
    assert "Europe/Berlin" in result.stderr


def test_no_server_says_how_to_start_one_quickly() -> None:
    start = time.monotonic()
    result = runner.invoke(app, ["schedule", "list", "--server", f"nats://127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert "jetcron up" in result.stderr
    assert time.monotonic() - start < 3


@pytest.mark.parametrize(
    "url", ["garbage://x", "nats://host:notaport", "nats://", "nats://a:1,ftp://b"]
)
def test_a_server_url_that_is_no_nats_url_is_bad_input_not_a_down_server(url: str) -> None:
    result = runner.invoke(app, ["-s", url, "status"])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    bad = url.split(",")[-1]
    assert line.startswith(
        f"error: invalid server URL {bad!r} (--server / NATS_URL): write nats://HOST"
    ), line


def test_server_but_no_service(nats_url: str) -> None:
    result = runner.invoke(app, ["schedule", "pause", "x", "--server", nats_url])
    assert result.exit_code == 1
    assert "no jetcron service" in result.stderr and "jetcron serve" in result.stderr


def test_bad_input_is_rejected_before_any_network(nats_url: str) -> None:
    server = ["--server", nats_url]
    for args, needle in [
        (["schedule", "add", *server, "bad name", "@daily", "--", "true"], "invalid schedule name"),
        (["schedule", "add", *server, "x", "* * *", "--", "true"], "expected 5 fields"),
        (["schedule", "add", *server, "x", "@daily"], "nothing to run"),
        (
            ["schedule", "add", *server, "--timeout", "soon", "x", "@daily", "--", "true"],
            "--timeout",
        ),
        (
            ["schedule", "add", *server, "--tz", "Mars/Olympus", "x", "@daily", "--", "true"],
            "Mars/Olympus",
        ),
        (["runs", "list", *server, "--status", "weird"], "unknown status"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.stderr, (args, result.stderr)


def test_policy_options_name_the_allowed_values(nats_url: str) -> None:
    for flag, value, needle in [
        ("--overlap", "sometimes", "skip, buffer_one, allow, cancel_previous"),
        ("--catchup", "maybe", "latest, all, none"),
        ("--retries", "-1", "--retries: -1: must be at least 0"),
    ]:
        result = runner.invoke(
            app, ["schedule", "add", "--server", nats_url, flag, value, "x", "@daily", "--", "true"]
        )
        assert result.exit_code == 2, result.output
        assert needle in result.stderr


def test_differing_paths_name_where_two_states_differ() -> None:
    from jetcron.cli.replaying import differing_paths

    live = {"position": 9, "views": {"audit": {"triggered": ["a", "b"]}, "runs": {"x": 1}}}
    rebuilt = {"position": 9, "views": {"audit": {"triggered": ["b", "a"]}, "runs": {"x": 1}}}
    assert differing_paths(rebuilt, live) == ["views/audit/triggered/0", "views/audit/triggered/1"]
    assert differing_paths(live, live) == []


def test_verify_with_as_of_is_refused() -> None:
    result = runner.invoke(app, ["replay", "--verify", "--as-of", "2026-01-01T00:00:00Z"])
    assert result.exit_code == 2
    assert "--verify compares with the live service now; drop --as-of" in result.output


def test_preview_after_without_offset_is_wall_time_in_the_zone() -> None:
    args = ["preview", "0 * * * *", "--tz", "Europe/Berlin", "-n", "1", "--json"]
    wall = runner.invoke(app, [*args, "--after", "2026-06-01T00:00"])
    utc = runner.invoke(app, [*args, "--after", "2026-06-01T00:00Z"])
    assert wall.exit_code == 0 and utc.exit_code == 0
    assert '"2026-05-31T23:00:00Z"' in wall.stdout  # 01:00 CEST, the first hour after 00:00 CEST
    assert '"2026-06-01T01:00:00Z"' in utc.stdout


@pytest.mark.parametrize(
    ("spec", "after", "first"),
    [
        pytest.param(
            "30 2 * * *", "2026-03-29T02:15", "2026-03-29T01:00:00Z", id="spring-gap-fixed"
        ),
        pytest.param(
            "30 2 * * *", "2026-03-29T02:45", "2026-03-29T01:00:00Z", id="spring-gap-late"
        ),
        pytest.param(
            "*/15 * * * *", "2026-03-29T02:15", "2026-03-29T01:00:00Z", id="spring-gap-interval"
        ),
        pytest.param("30 2 * * *", "2026-03-29T03:00", "2026-03-30T00:30:00Z", id="gap-end-itself"),
    ],
)
def test_preview_after_a_wall_time_in_the_gap_keeps_the_fire_at_the_gap_end(
    spec: str, after: str, first: str
) -> None:
    # newcomer20c #2: no instant is 02:15 that night; the 02:30 fire at 03:00 comes after it
    args = ["preview", spec, "--tz", "Europe/Berlin", "-n", "1", "--json", "--after", after]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)[0]["utc"] == first


def test_preview_shows_cron_extensions_with_their_weekday() -> None:
    args = ["preview", "30 2 * 3 5L", "--tz", "Europe/Berlin", "-n", "2"]
    result = runner.invoke(app, [*args, "--after", "2026-01-01T00:00"])
    assert result.exit_code == 0, result.output
    assert "2026-03-27 02:30 CET (+01:00)  Fri" in result.stdout
    assert "2027-03-26 02:30 CET (+01:00)  Fri" in result.stdout


def test_preview_malformed_extension_is_one_line_with_a_hint() -> None:
    result = runner.invoke(app, ["preview", "0 9 * * 5#-1"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "day-of-week field" in lines[0] and "'5L'" in lines[0]


def test_empty_windows_and_bad_times_are_bad_input_before_any_network() -> None:
    server = ["--server", f"nats://127.0.0.1:{free_port()}"]  # why: nothing listens: no network
    for args, line in [
        (["conflicts", "--within", "0s"], "error: --within must be longer than 0s"),
        (["due", "--within", "0m"], "error: --within must be longer than 0s"),
        (["stats", "--window", "0s"], "error: --window must be longer than 0s"),
        (
            ["schedule", "update", "x", "--spec", "@hourly", "--what-if", "--window", "0d"],
            "error: --window must be longer than 0s",
        ),
        (
            ["schedule", "add", "x", "@daily", "--breaker-cooldown", "0s", "--", "true"],
            "error: --breaker-cooldown: '0s': must be more than 0s (none: stay paused)",
        ),
        # newcomer20c #10: the option's name and our words, not a field's or pydantic's
        (
            ["schedule", "add", "x", "@daily", "--timeout", "0s", "--", "true"],
            "error: --timeout: '0s': must be more than 0s (none: never stop it)",
        ),
        (
            ["schedule", "update", "x", "--expect-success-within", "0s"],
            "error: --expect-success-within: '0s': must be more than 0s (none: no alert)",
        ),
        (
            ["serve", "--keep-runs", "-5"],
            "error: invalid value for '--keep-runs': must be at least 0, not -5 (see `jetcron "
            "serve --help`)",
        ),
        # newcomer20c #16: a window under a minute would catch up nothing
        (
            ["schedule", "add", "x", "@daily", "--catchup-window", "0s", "--", "true"],
            "error: --catchup-window: '0s': must be at least 1m: a fire is missed only when over "
            "1m late, so a shorter window runs none (that is catch-up none)",
        ),
        (
            ["schedule", "update", "x", "--reset", "timeout", "--timeout", "5m"],
            "error: --timeout given with its reset; give one of them",
        ),
        (
            ["schedule", "update", "x", "--no-end", "--end", "2030-01-01T00:00"],
            "error: --end given with its reset; give one of them",
        ),
        (["runs", "list", "--since", "soon"], "error: --since: invalid time 'soon': use ISO-8601"),
        (["runs", "list", "--until", "soon"], "error: --until: invalid time 'soon': use ISO-8601"),
        (["fires", "x", "--until", "-2h"], "error: --until: invalid time '-2h': use ISO-8601"),
    ]:
        result = runner.invoke(app, [*args, *server])
        assert result.exit_code == 2, (args, result.output)
        [shown] = result.stderr.strip().splitlines()
        assert shown.startswith(line), (args, shown)


def test_ports_and_intervals_out_of_range_are_one_line_exit_2() -> None:
    for args, line in [
        (["up", "--port", "99999"], "error: invalid value for '--port': must be from 1 to 65535"),
        (["web", "--port", "-1"], "error: invalid value for '--port': must be from 0 to 65535"),
        (
            ["serve", "--lease-ttl", "0"],
            "error: invalid value for '--lease-ttl': must be at least 1",
        ),
        (
            ["executor", "--ack-wait", "0"],
            "error: invalid value for '--ack-wait': must be at least 1",
        ),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        [shown] = result.stderr.strip().splitlines()
        assert shown.startswith(line), (args, shown)


@pytest.mark.parametrize(
    ("zone", "noted"), [("EST", True), ("MST", True), ("America/New_York", False), ("UTC", False)]
)
def test_preview_notes_a_fixed_offset_zone_taken_for_a_place(zone: str, noted: bool) -> None:
    result = runner.invoke(app, ["preview", "0 9 * * *", "--tz", zone, "-n", "1"])

    assert result.exit_code == 0
    assert ("no daylight saving time" in result.stderr) is noted


def test_a_server_host_that_does_not_exist_is_bad_input() -> None:
    import socket

    try:
        socket.getaddrinfo("notaurl", None)
    except socket.gaierror as err:
        if err.errno != socket.EAI_NONAME:
            pytest.skip(f"this resolver cannot say whether a name exists: {err}")
    else:
        pytest.skip("'notaurl' resolves here")
    result = runner.invoke(app, ["-s", "notaurl", "schedule", "list"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: no such host 'notaurl' in the server URL")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["@every 2900000d"], "duration must be at most 3660d (about ten years), got 2900000d"),
        (
            ["@at 9999-12-31T23:00", "--tz", "America/Los_Angeles"],
            "after the last fire time jetcron handles (9999-01-01T00:00Z)",
        ),
        (["@daily", "--after", "9999-12-31T23:00", "--tz", "America/Los_Angeles"], "out of range"),
        (["@daily", "-n", "100000000"], "must be from 1 to 10000, not 100000000"),
    ],
    ids=["every-huge", "at-past-9999", "after-past-9999", "count-as-typed"],
)
def test_preview_refuses_times_past_year_9999_in_one_line(args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["preview", *args])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert needle in line, line


def test_preview_refuses_a_spec_whose_fires_fall_between_whole_seconds() -> None:
    # newcomer20c #3: the table would show :01, :03, :04 for @every 1500ms
    shown = runner.invoke(app, ["preview", "@every 1500ms", "-n", "3"])
    assert shown.exit_code == 2
    assert shown.stderr.strip() == (
        "error: invalid spec '@every 1500ms': fire times are whole seconds: give the interval "
        "and offset in whole seconds"
    )


def test_reset_of_no_such_field_names_the_ones_it_takes() -> None:
    shown = runner.invoke(app, ["schedule", "update", "x", "--reset", "bogus"])
    assert shown.exit_code == 2
    line = shown.stderr.strip()
    assert line.startswith("error: --reset bogus: no such field; use one of tz, params,"), line
    assert line.endswith("only_within, conditions") and "spec" not in line.split(";")[1]
    near = runner.invoke(app, ["schedule", "update", "x", "--reset", "timout"])
    assert near.stderr.strip() == "error: --reset timout: no such field (did you mean 'timeout'?)"


def test_preview_on_a_narrow_terminal_keeps_the_times_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # newcomer20c #5: at 60 columns both times were cut (`2026-03-28T01:3…`)
    monkeypatch.setenv("COLUMNS", "60")
    args = ["preview", "30 2 * * *", "--tz", "Europe/Berlin", "--after", "2026-03-28", "-n", "2"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[4].startswith("2026-03-29T01:00:00Z  2026-03-29 03:00 CEST (+02:00)  02:3"), lines
    assert max(len(line) for line in lines) <= 60, lines


def test_a_local_column_shows_seconds_on_every_row_or_on_none() -> None:
    # newcomer20c #12: `09:47:40` above `09:48` read as two formats; fires dropped seconds
    from jetcron.cli.fires import local_cell as _local

    shown = runner.invoke(app, ["preview", "@every 90s", "-n", "2", "--after", "2026-01-01T00:00Z"])
    assert "2026-01-01 00:01:30 UTC (+00:00)" in shown.stdout
    assert "2026-01-01 00:03:00 UTC (+00:00)" in shown.stdout, shown.stdout
    assert _local("2026-12-03T10:52:28+01:00") == "12-03 10:52:28+01:00"
    assert _local("2026-12-03T10:52:00+01:00", True) == "12-03 10:52:00+01:00"
    assert _local("2026-12-03T10:52:00+01:00") == "12-03 10:52+01:00"
