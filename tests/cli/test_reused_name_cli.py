"""A name deleted and created again, against a live scheduler service: `fires` tells the time
between as one `deleted` line and `why` says the same; `why` of a time before the name's first
schedule is `not created`, not an error about a spec the name no longer has (newcomer19c #12,
#13)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytz
from served import cli, listed, ok

from jetcron.cli.text import parse_time, utc
from polling import wait_until


def _fires(server: str, since: str) -> list[dict[str, Any]]:
    return json.loads(ok(server, "fires", "dr", "--json", "--since", since))  # type: ignore[no-any-return]


def _triggered(server: str, since: str) -> list[dict[str, Any]]:
    return [f for f in _fires(server, since) if f["fate"] == "triggered"]


def test_fires_show_the_deletion_as_a_line_and_why_says_the_same(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "dr", "@every 1s", "--overlap", "allow", "--", "true")
    since = utc(parse_time(listed(scheduler)["dr"]["created_at"]))
    wait_until(lambda: _triggered(scheduler, since), 20)
    ok(scheduler, "--actor", "bob", "schedule", "delete", "dr", "--reason", "moved")
    time.sleep(3)
    ok(scheduler, "--actor", "carol", "schedule", "add", "dr", "@every 1s", "--", "true")
    again = parse_time(listed(scheduler)["dr"]["created_at"])
    wait_until(lambda: any(parse_time(f["utc"]) > again for f in _triggered(scheduler, since)), 20)

    rows = _fires(scheduler, since)
    table = ok(scheduler, "fires", "dr", "--since", since)
    [gap] = [r for r in rows if r["fate"] == "deleted"]
    story = ok(scheduler, "why", "dr", gap["utc"])

    # every second from the first fire to the last is told: no silent gap
    told = sorted(
        t
        for r in rows
        for t in _seconds(parse_time(r["utc"]), parse_time(r.get("last_utc", r["utc"])))
    )
    assert told == list(_seconds(told[0], told[-1])), rows
    assert gap["count"] >= 2 and "previous" not in gap, gap
    line = next(s for s in table.splitlines() if " deleted " in s)
    assert f"{gap['count']} fires to {utc(parse_time(gap['last_utc']))}: deleted by bob at " in line
    assert " (moved); created again by carol at " in line, line
    heading, *said = story.splitlines()
    assert heading.endswith(": no fire"), story
    assert said[0].startswith("  The schedule was deleted by bob at "), story
    assert said[1].startswith("  A new schedule of that name was created by carol at "), story


def _seconds(first: datetime, last: datetime) -> Iterator[datetime]:
    at = first
    while at <= last:
        yield at
        at += timedelta(seconds=1)


def test_why_before_a_reused_names_first_schedule_is_not_created(scheduler: str) -> None:
    add = ("schedule", "add", "audited", "0 3 * * *", "--tz", "Europe/Berlin", "--", "true")
    ok(scheduler, *add)
    ok(scheduler, "--actor", "bob", "schedule", "delete", "audited")
    ok(scheduler, "--actor", "carol", "schedule", "add", "audited", "@every 1h", "--", "true")
    # a whole hour before both: a fire time of the hourly schedule, none of the first one's
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    if hour.astimezone(pytz.timezone("Europe/Berlin")).hour == 3:
        hour -= timedelta(hours=1)

    asked = cli(scheduler, "why", "audited", utc(hour))

    assert asked.exit_code == 0, asked.output
    heading, *said = asked.stdout.splitlines()
    assert heading.startswith(f"{hour:%Y-%m-%dT%H:%M:%SZ} (") and heading.endswith("): no fire"), (
        heading
    )
    assert said[0].startswith("  The schedule did not exist yet: it was created only at ")
    assert said[1].startswith("  It was deleted since; the name's latest was created by carol")
