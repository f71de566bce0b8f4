"""`jetcron schedule backfill`: the plan (pure), and against a live service and executor: a
range of three fires, one of which succeeded, gets two backfill runs linked to their fires;
the same backfill again runs none; --dry-run sends nothing; bad input exits 2."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_views_cli import Live

from jetcron.errors import InvalidInput
from jetcron.projections.backfill import plan, range_of
from jetcron.projections.fates import fates
from jetcron.projections.ledger import LedgerEntry

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def row(fate: str, status: str = "", reason: str = "", backfills: int = 0) -> dict[str, Any]:
    return {"utc": "x", "fate": fate, "status": status, "reason": reason, "backfills": backfills}


def test_the_plan_runs_what_did_not_succeed_and_leaves_what_was_meant() -> None:
    rows = [
        row("missed"),
        row("unrecorded"),
        row("lost", "lost"),
        row("triggered", "failed", backfills=1),
        row("skipped", reason="previous run still running"),
        row("triggered", "succeeded"),
        row("triggered", "running"),
        row("skipped", reason="skipped by alice: holiday"),
        row("skipped", reason="excluded by maint (window 0 2 * * sun for 4h)"),
        row("paused"),
        row("not_created"),
        row("forgotten"),
    ]
    todo, left = plan(rows, rerun=False)
    assert [r["fate"] for r in todo] == ["missed", "unrecorded", "lost", "triggered", "skipped"]
    assert [r["rerun"] for r in todo] == [0, 0, 0, 1, 0]
    assert [r["why"] for r in left][:3] == [
        "succeeded (--rerun runs it again)",
        "its run is running",
        "skipped by alice: holiday",
    ]
    todo, left = plan(rows, rerun=True)
    assert len(todo) == 6 and todo[-1]["status"] == "succeeded"


def test_bad_ranges_are_refused() -> None:
    now = T0
    h = timedelta(hours=1)
    with pytest.raises(InvalidInput, match="is after --to"):
        range_of(T0 - h, T0 - 2 * h, now)
    with pytest.raises(InvalidInput, match="^to .* is in the future"):
        range_of(T0 - h, T0 + h, now, ("from", "to"))
    assert range_of(T0 - h, T0 - h, now)[0] == T0 - h


def entry(fire_id: str, seq: int, status: str, backfill_of: str = "") -> LedgerEntry:
    return LedgerEntry(
        fire_id=fire_id, schedule="s", schedule_id="sid", fire_time=T0, outcome="triggered",
        recorded_at=T0 + timedelta(seconds=seq), run_id=f"run-{seq}", status=status, seq=seq,
        backfill_of=backfill_of,
    )  # fmt: skip


def test_a_backfill_stands_for_its_fire_in_the_fates() -> None:
    entries = [
        entry("sid:v1:t", 1, "failed"),
        entry("sid:t:backfill", 5, "failed", "sid:t"),
        entry("sid:t:backfill:1", 9, "succeeded", "sid:t"),
    ]
    [fire] = fates([T0], entries, [], now=T0 + timedelta(hours=1))
    assert (fire.run_id, fire.status, fire.backfill_of, fire.backfills) == (
        "run-9",
        "succeeded",
        "sid:t",
        2,
    )
    [plain] = fates([T0], entries[:1], [], now=T0 + timedelta(hours=1))
    assert (plain.run_id, plain.backfill_of, plain.backfills) == ("run-1", "", 0)


@pytest.fixture
def live(nats_url: str, tmp_path: Path) -> Any:
    with Live(nats_url, tmp_path / "journal") as running:
        yield running


def test_backfill_runs_each_missing_fire_once(live: Live, tmp_path: Path) -> None:
    go = tmp_path / "go"
    # why: fires fail until `go` exists; then one succeeds and the schedule is paused
    live.ok("schedule", "add", "tick", "@every 1s", "--", "test", "-f", str(go))
    live.until(lambda: sum(r["status"] == "failed" for r in live.runs("tick")) >= 2)
    go.touch()
    live.until(lambda: live.runs("tick")[0]["status"] == "succeeded")
    live.ok("schedule", "pause", "tick")
    rows = json.loads(live.ok("fires", "tick", "--json", "--since", "2000-01-01").stdout)
    done = [r for r in rows if r["fate"] == "triggered" and r["status"] in ("failed", "succeeded")]
    three = done[-3:]
    assert [r["status"] for r in three][-1] == "succeeded", rows
    assert all(r["status"] == "failed" for r in three[:2]), rows
    span = ("--from", three[0]["utc"], "--to", three[-1]["utc"])

    dry = live.ok("schedule", "backfill", "tick", *span, "--dry-run")
    assert "2 fires would be backfilled, 1 left alone; nothing sent" in dry.stdout
    planned = json.loads(
        live.ok("schedule", "backfill", "tick", *span, "--dry-run", "--json").stdout
    )
    assert [r["utc"] for r in planned["backfill"]] == [r["utc"] for r in three[:2]]
    before = len(live.runs("tick"))

    sent = live.ok("--actor", "carol", "schedule", "backfill", "tick", *span, "--reason", "outage")
    assert "done: 2 backfill runs, 2 succeeded" in sent.stdout, sent.stdout
    runs = live.runs("tick")
    assert len(runs) == before + 2
    backfills = [r for r in runs if r.get("backfill_of")]
    assert sorted(r["fire_time"] for r in backfills) == sorted(r["utc"] for r in three[:2])
    assert all(r["status"] == "succeeded" for r in backfills)
    assert all(r.get("lateness_s") is None for r in backfills), backfills  # late on purpose
    assert len({r["backfill_of"] for r in backfills}) == 2
    listed = live.ok("runs", "list", "--schedule", "tick").stdout
    assert listed.count("backfill by carol: outage") == 2, listed

    after = {
        r["utc"]: r
        for r in json.loads(live.ok("fires", "tick", "--json", "--since", "2000-01-01").stdout)
    }
    for fire in three[:2]:
        assert after[fire["utc"]]["status"] == "succeeded"
        assert after[fire["utc"]]["backfill_of"], after[fire["utc"]]
    assert "backfill" in live.ok("fires", "tick", "--since", "2000-01-01").stdout
    assert "Backfilled by carol" in live.ok("why", "tick", three[0]["utc"]).stdout
    audit = json.loads(live.ok("audit", "tick", "--json").stdout)
    assert sum(e["actor"] == "carol" for e in audit) == 2, audit

    again = live.ok("schedule", "backfill", "tick", *span)
    assert "nothing to backfill" in again.stdout
    assert json.loads(live.ok("schedule", "backfill", "tick", *span, "--json").stdout) == []
    time.sleep(0.3)
    assert len(live.runs("tick")) == before + 2


def test_bad_backfills_exit_2_and_send_nothing(live: Live) -> None:
    live.ok("schedule", "add", "daily", "@daily", "--", "true")
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    cases = {
        ("nope", "--from", "2026-01-01", "--to", "2026-01-02"): "nope",
        ("daily", "--from", "2026-01-02", "--to", "2026-01-01"): "is after --to 2026-01-01",
        ("daily", "--from", "2026-01-01", "--to", future): "in the future",
        ("daily", "--from", "yesterday", "--to", "2026-01-01"): "yesterday",
        ("daily", "--from", "2026-01-01", "--to", "2026-01-02", "--max-parallel", "0"): "0",
        ("daily", "--from", "2026-01-01", "--to", "2026-01-02", "--overlap", "often"): "often",
        ("daily", "--from", "2026-01-01", "--to", "2026-01-02", "--max-parallel", "3"): (
            "--max-parallel 3 goes with --overlap allow"
        ),
    }
    for args, problem in cases.items():
        result = live.cli("schedule", "backfill", *args)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and problem in lines[0], result.stderr
    assert live.runs("daily") == []


@pytest.mark.parametrize(
    ("policy", "given", "parallel", "overlap", "most"),
    [
        ("skip", None, None, "skip", 1),
        ("buffer_one", None, None, "queue", 1),
        ("cancel_previous", None, None, "queue", 1),
        ("allow", None, None, "allow", 2),
        ("allow", None, 5, "allow", 5),
        ("skip", "allow", 3, "allow", 3),
        ("allow", "queue", 1, "queue", 1),
    ],
)
def test_the_overlap_defaults_to_the_schedules_policy(
    policy: str, given: str | None, parallel: int | None, overlap: str, most: int
) -> None:
    from jetcron.projections.backfill import overlap_of
    from jetcron.projections.backfill import parallel as most_of

    assert overlap_of(given, policy) == overlap
    assert most_of(overlap_of(given, policy), parallel) == most  # type: ignore[arg-type]


def test_a_bad_overlap_or_parallel_is_refused() -> None:
    from jetcron.projections.backfill import overlap_of, parallel

    with pytest.raises(InvalidInput, match="--overlap 'buffer_one': use one of allow, skip, queue"):
        overlap_of("buffer_one", "skip")
    with pytest.raises(InvalidInput, match="--max-parallel 3 goes with --overlap allow"):
        parallel("skip", 3)


def test_overlap_skip_leaves_and_queue_waits_for_a_run_in_flight(
    live: Live, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    live.ok("schedule", "add", "slow", "@every 1s", "--", "sh", "-c", f"test -f {go} && sleep 0.6")
    live.until(lambda: sum(r["status"] == "failed" for r in live.runs("slow")) >= 2)
    live.ok("schedule", "pause", "slow")
    failed = sorted(r["fire_time"] for r in live.runs("slow") if r["status"] == "failed")
    span = ("--from", failed[-2], "--to", failed[-1])
    go.touch()

    live.ok("schedule", "trigger", "slow")
    live.until(lambda: any(r["manual"] and r["status"] == "running" for r in live.runs("slow")))
    skipped = live.ok("schedule", "backfill", "slow", *span, "--json")  # the schedule's: skip
    rows = json.loads(skipped.stdout)
    assert [r["status"] for r in rows] == ["skipped", "skipped"], rows
    assert "(overlap skip)" in rows[0]["why"] and "2 skipped (overlap)" in skipped.stderr
    assert not [r for r in live.runs("slow") if r.get("backfill_of")]

    live.ok("schedule", "trigger", "slow")
    live.until(lambda: sum(r["manual"] for r in live.runs("slow")) == 2)
    queued = live.ok("schedule", "backfill", "slow", *span, "--overlap", "queue")
    assert "overlap queue, at most 1 at a time" in queued.stdout, queued.stdout
    runs = live.runs("slow")
    manual = max((r for r in runs if r["manual"]), key=lambda r: r["triggered_at"])
    backfills = sorted((r for r in runs if r.get("backfill_of")), key=lambda r: r["started_at"])
    assert len(backfills) == 2 and all(r["status"] == "succeeded" for r in backfills), runs
    # why: queue waited for the manual run, then ran the backfills one after the other
    assert manual["finished_at"] <= backfills[0]["triggered_at"], (manual, backfills)
    assert backfills[0]["finished_at"] <= backfills[1]["triggered_at"], backfills


def test_from_and_to_read_like_why_in_the_schedules_zone(live: Live) -> None:
    live.ok("schedule", "add", "berlin", "0 3 * * *", "--tz", "Europe/Berlin", "--", "true")
    early = "2000-01-01T00:00Z"

    wall = live.cli("schedule", "backfill", "berlin", "--from", "2026-11-28T03:00", "--to", early)
    clock = live.cli("schedule", "backfill", "berlin", "--from", "03:00", "--to", early)
    exact = live.cli("schedule", "backfill", "berlin", "--from", "2026-11-28T03:00Z", "--to", early)

    # why: the errors show how each --from was read (Berlin is UTC+1 in November)
    assert "--from 2026-11-28T02:00:00Z is after --to" in wall.stderr, wall.stderr
    assert "T02:00:00Z is after --to" in clock.stderr, clock.stderr
    assert "--from 2026-11-28T03:00:00Z is after --to" in exact.stderr, exact.stderr


def test_a_range_over_the_limit_says_the_limit_not_a_partial_count() -> None:
    from jetcron.domain.definition import Job, ScheduleDefinition
    from jetcron.domain.envelope import Envelope, StoredEvent
    from jetcron.domain.events import ScheduleCreated
    from jetcron.projections.backfill import backfill_plan
    from jetcron.projections.state import apply_batch, new_views

    made = T0 - timedelta(days=40)
    d = ScheduleDefinition(spec="@every 5m", job=Job(command=["true"]))
    event = ScheduleCreated(schedule_id="s1", name="every5", version=1, definition=d)
    views = new_views()
    apply_batch(
        views,
        [
            StoredEvent(
                1, "jetcron.sched.every5", Envelope(id="e1", at=made, actor="t", event=event)
            )
        ],
    )
    ask = {"name": "every5", "from": (T0 - timedelta(days=35)).isoformat(), "to": T0.isoformat()}
    with pytest.raises(
        InvalidInput, match=r"^more than 10000 fires from .*\(a backfill takes at most 10000\)"
    ):
        backfill_plan(views, ask, T0)


def _every_minute_views(made: datetime) -> Any:
    from jetcron.domain.definition import Job, ScheduleDefinition
    from jetcron.domain.envelope import Envelope, StoredEvent
    from jetcron.domain.events import ScheduleCreated
    from jetcron.projections.state import apply_batch, new_views

    d = ScheduleDefinition(spec="* * * * *", job=Job(command=["true"]))
    event = ScheduleCreated(schedule_id="s1", name="mins", version=1, definition=d)
    views = new_views()
    envelope = Envelope(id="e1", at=made, actor="t", event=event)
    apply_batch(views, [StoredEvent(1, "jetcron.sched.mins", envelope)])
    return views


def test_an_hh_mm_not_come_yet_is_yesterdays_and_the_answer_says_so() -> None:
    # nc21b #7: at 13:21, `--from 13:10 --to 13:25` read --to as yesterday's 13:25
    from jetcron.projections.backfill import backfill_plan

    now = datetime(2026, 12, 3, 13, 21, tzinfo=UTC)
    views = _every_minute_views(now - timedelta(days=2))
    cli = {"name": "mins", "spelled": ["--from", "--to"]}
    with pytest.raises(InvalidInput) as reversed_:
        backfill_plan(views, {**cli, "from": "13:10", "to": "13:25"}, now)
    assert str(reversed_.value) == (
        "--from 2026-12-03T13:10:00Z is after --to 2026-12-02T13:25:00Z (HH:MM is the latest "
        "such time: --from 13:10 as 2026-12-03 13:10 UTC (today); --to 13:25 as 2026-12-02 "
        "13:25 UTC (yesterday); give full dates)"
    )
    swapped = backfill_plan(views, {**cli, "from": "13:25", "to": "13:10", "rerun": True}, now)
    assert swapped["notes"] == [
        "--from 13:25 read as 2026-12-02 13:25 UTC (yesterday): HH:MM is the latest such time, "
        "and 13:25 had not come yet today"
    ]
    assert backfill_plan(views, {**cli, "from": "13:00", "to": "13:10"}, now)["notes"] == []
    # the HTTP API's body spells them `from`/`to`, and a bad one is named as spelled
    with pytest.raises(InvalidInput, match=r"^from 2026-12-03T13:10:00Z is after to 2026"):
        backfill_plan(views, {"name": "mins", "from": "13:10", "to": "13:25"}, now)
    with pytest.raises(InvalidInput, match=r"^--to: invalid time 'soon'"):
        backfill_plan(views, {**cli, "from": "13:00", "to": "soon"}, now)
