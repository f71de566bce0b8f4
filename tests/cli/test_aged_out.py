"""After run history aged out of the log, the queries say so (newcomer19c #1, #2): `runs logs`
does not say "succeeded with no output", `runs show` marks the run, and `fires`/`why` show
its fire as `forgotten` instead of `triggered` citing sequences the log no longer has."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from served import cli
from test_retention_cli import (
    RETENTION_S,
    _with_log,
    aging_scheduler,
    append_runs,
    run_events,
    subjects_in_log,
)

from jetcron import subjects
from jetcron.log.stream import EventLog
from polling import wait_until


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    """A scheduler on a log keeping run history 2 s (test_retention_cli's)."""
    yield from aging_scheduler(nats_url)


def test_a_run_whose_events_aged_out_is_marked_so_in_every_answer(
    scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = scheduler
    monkeypatch.setattr("jetcron.log.retention.HORIZON_KEEP_S", 0.0)
    assert cli(url, "schedule", "add", "old", "@every 1h", "--", "true").exit_code == 0
    fired = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
    append_runs(url, "old", [fired])
    wait_until(lambda: '"succeeded"' in cli(url, "runs", "list", "--json").stdout)
    run_id = json.loads(cli(url, "runs", "list", "--json").stdout)[0]["run_id"]
    when = fired.isoformat().replace("+00:00", "Z")
    assert "triggered" in cli(url, "why", "old", when).stdout  # held: the story as before

    time.sleep(RETENTION_S + 1.5)  # TTL plus the server's expiry sweep
    assert not [s for s in subjects_in_log(url) if not s.startswith("jetcron.sched.")]

    logs = cli(url, "runs", "logs", run_id[:8])
    assert logs.exit_code == 0, logs.output
    assert "no output" not in logs.output
    assert f"run {run_id[:8]}'s events and output have aged out of the log" in logs.stderr
    assert "(run history is kept 2s)" in logs.stderr
    assert "aged out of the log" in cli(url, "runs", "show", run_id[:8]).stdout

    fires = json.loads(cli(url, "fires", "old", "--since", when, "--json").stdout)
    assert [(f["utc"], f["fate"]) for f in fires][:1] == [(when, "forgotten")]
    story = cli(url, "why", "old", when)
    assert story.exit_code == 0, story.output
    assert "forgotten" in story.stdout and "seq " not in story.stdout
    listed = cli(url, "schedule", "list")
    assert "note: runs counts include runs whose events have aged out of the log (old)" in (
        listed.stderr
    )
    assert json.loads(cli(url, "schedule", "list", "--json").stdout)[0]["runs_aged_out"]
    verify = cli(url, "replay", "--verify")  # the horizon is a query's, not the fold's
    assert verify.exit_code == 0 and "identical" in verify.output, verify.output


def test_health_and_status_flag_a_retention_under_the_minimum(scheduler: str) -> None:
    # newcomer19c #5: a log at 90 s was "healthy"; only a replica's start warned of it
    health = cli(scheduler, "health")
    assert health.exit_code == 1, health.output
    assert "retention short" in health.stdout and "stream JETCRON" in health.stdout
    assert "run history kept only 2s, too short (at least 2d" in health.stdout
    status = cli(scheduler, "status")
    assert "warning: run history kept too short: at least 2d, or 'forever'" in status.stdout


def append_kept_long(url: str, name: str, fire_time: datetime) -> None:
    """One run stored with a 3-day TTL, as before the retention was lowered to 2 s."""

    async def step(log: EventLog) -> None:
        log.retention_s = 3 * 86400
        last = await log.last(subjects.schedule(name))
        assert last is not None
        items = run_events(last.event.schedule_id, name, fire_time)  # type: ignore[union-attr]
        for ack in await log.publish_many(items):
            assert not isinstance(ack, Exception)

    asyncio.run(_with_log(url, step))


def test_after_a_retention_lowered_live_the_runs_it_aged_out_are_marked_too(
    scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the newcomer's case: runs stored before the change keep their long TTL, so the oldest
    # run event the log holds is older than the ones that expired: each is asked about
    url = scheduler
    monkeypatch.setattr("jetcron.log.retention.HORIZON_KEEP_S", 0.0)
    assert cli(url, "schedule", "add", "old", "@every 1h", "--", "true").exit_code == 0
    first = (datetime.now(UTC) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    second = first + timedelta(minutes=5)
    append_kept_long(url, "old", first)
    append_runs(url, "old", [second])
    wait_until(lambda: len(json.loads(cli(url, "runs", "list", "--json").stdout)) == 2)
    kept, lapsed = (
        r["run_id"] for r in json.loads(cli(url, "runs", "list", "--json").stdout)[::-1]
    )
    time.sleep(RETENTION_S + 1.5)

    assert "aged out" not in cli(url, "runs", "logs", kept[:8]).output
    said = cli(url, "runs", "logs", lapsed[:8]).stderr
    assert f"run {lapsed[:8]}'s events and output have aged out of the log" in said
    fires = json.loads(cli(url, "fires", "old", "--since", first.isoformat(), "--json").stdout)
    fates = {f["utc"]: f["fate"] for f in fires}
    iso = [t.isoformat().replace("+00:00", "Z") for t in (first, second)]
    assert (fates[iso[0]], fates[iso[1]]) == ("triggered", "forgotten")
    assert "aged out of the log" in cli(url, "runs", "show", lapsed[:8]).stdout
    assert "aged out" not in cli(url, "runs", "show", kept[:8]).stdout
