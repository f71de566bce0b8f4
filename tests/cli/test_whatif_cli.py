"""`jetcron schedule update ... --what-if` against a live scheduler service (no executor: runs
stay triggered): it compares the recorded fires with the new spec's and appends nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from served import cli, listed, ok, scheduler_in_thread


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    yield from scheduler_in_thread(nats_url)


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
