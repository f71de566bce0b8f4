"""A time given without a zone: one `note:` line on stderr naming the zone it was read in (UTC
for the time options, the schedule's zone for `why` and `schedule skip`), and none for a time
with one, a duration or input refused (that gets its one error line)."""

from __future__ import annotations

import pytest
from served import cli, ok
from typer.testing import Result

from jetcron.cli.timing import naive


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("02:00", True),
        ("2:00:30", True),
        ("2026-12-01T02:00", True),
        ("2026-12-01", True),
        ("2026-12-01T02:00Z", False),
        ("2026-12-01T02:00+01:00", False),
        ("2h", False),
        ("yesterday", False),
    ],
)
def test_naive_is_a_wall_time_without_a_zone(text: str, expected: bool) -> None:
    assert naive(text) is expected


def notes(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("note:")]


def test_each_naive_time_says_the_zone_it_was_read_in(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "daily", "0 3 * * *", "--tz", "Europe/London", "--", "true")
    london = "(the schedule's zone)"

    skip = cli(scheduler, "schedule", "skip", "daily", "2030-01-01T03:00")
    exact = cli(scheduler, "schedule", "skip", "daily", "2030-01-02T03:00Z")
    story = cli(scheduler, "why", "daily", "03:00")
    since = cli(scheduler, "runs", "list", "--since", "2026-01-01T00:00")
    ago = cli(scheduler, "runs", "list", "--since", "2h", "--until", "2000-01-01")

    assert skip.exit_code == 0 and notes(skip) == [
        f"note: 2030-01-01T03:00 read as 2030-01-01T03:00 Europe/London {london}"
    ]
    assert exact.exit_code == 0 and notes(exact) == []
    assert story.exit_code == 0 and notes(story) == [
        f"note: 03:00 read as 03:00 Europe/London {london}"
    ]
    assert since.exit_code == 0 and notes(since) == [
        "note: 2026-01-01T00:00 read as 2026-01-01T00:00 UTC "
        "(--since reads a time without a zone in UTC)"
    ]
    assert notes(ago) == [
        "note: 2000-01-01 read as 2000-01-01 UTC (--until reads a time without a zone in UTC)"
    ]


def test_a_naive_time_refused_gets_its_one_error_line_only(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "daily", "0 3 * * *", "--tz", "Europe/London", "--", "true")

    for args in (("schedule", "skip", "daily", "2030-01-01T03:30"), ("why", "daily", "03:30")):
        result = cli(scheduler, *args)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1, result.stderr
        assert "is not a fire time of '0 3 * * *' in Europe/London" in lines[0], lines


def test_a_future_since_exits_2_in_runs_list_as_in_fires(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "daily", "0 3 * * *", "--", "true")

    for args in (("runs", "list"), ("fires", "daily")):
        result = cli(scheduler, *args, "--since", "2999-01-01T00:00Z")
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1, result.stderr
        assert "--since 2999-01-01T00:00:00Z is in the future (now " in lines[0], lines
