"""A fire's chosen jitter is no lateness (domain/lateness.py): the runs view (stats), the fire
ledger (fires, why) and the Prometheus histogram count from fire + jitter; real folds."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from projection_factory import T0, History, fold
from prometheus_client import CollectorRegistry

from jetcron.projections import fire_queries, snapshot, stats
from jetcron.projections.metrics import Metrics

JITTER = timedelta(minutes=40)
FIRE = T0 + timedelta(hours=1)
"""A fire of "0 * * * *" with --jitter 1h (capped at 30m by the interval in real life; the
views take what the trigger recorded)."""
NOW = FIRE + timedelta(hours=2)


def jittered(jitter_s: float = JITTER.total_seconds(), start_after: float = 2.0) -> History:
    """A run triggered at FIRE + JITTER (recorded with or without its jitter), started
    `start_after` seconds later, succeeded."""
    h = History()
    h.create("nightly", "0 * * * *", jitter_s=3600.0)
    h.now = FIRE + JITTER - h.step
    run = h.trigger("nightly", FIRE, jitter_s=jitter_s)
    h.tick(timedelta(seconds=start_after) - h.step)
    h.started(run)
    h.succeeded(run)
    return h


def test_stats_count_lateness_from_fire_plus_jitter() -> None:
    views = fold(jittered().events)
    [row] = [r for r in views.runs.rows.values() if r.run_id]
    assert row.jitter_s == JITTER.total_seconds() and row.lateness_s == 2.0
    [s] = stats.compute(views.runs, now=NOW)
    assert s.lateness_p50 == 2.0


def test_a_trigger_without_its_jitter_recorded_counts_as_before() -> None:
    # why: triggers from before jitter_s was recorded read as jitter 0 (the old measure)
    views = fold(jittered(jitter_s=0.0).events)
    [row] = [r for r in views.runs.rows.values() if r.run_id]
    assert row.lateness_s == JITTER.total_seconds() + 2.0
    assert b"jitter_s" not in msgspec.json.encode(row)


def test_fires_and_why_do_not_call_a_jittered_fire_late() -> None:
    views = fold(jittered().events)
    fires = fire_queries.fires_of(views, {"name": "nightly", "since": FIRE.isoformat()}, NOW)
    [fire] = [
        f for f in fires["fires"] if f["fire_time"] == FIRE.isoformat().replace("+00:00", "Z")
    ]
    assert fire["status"] == "succeeded" and abs(fire["late_s"]) < 1.0, fire
    assert not fire.get("late_cause"), fire
    story = fire_queries.why_of(views, {"name": "nightly", "time": FIRE.isoformat()}, NOW)
    told = " ".join(s["text"] for s in story["sentences"])
    assert "late" not in told, told


def test_a_fire_late_beyond_its_jitter_is_still_late() -> None:
    views = fold(jittered(jitter_s=JITTER.total_seconds() - 300).events)
    fires = fire_queries.fires_of(views, {"name": "nightly", "since": FIRE.isoformat()}, NOW)
    [fire] = [f for f in fires["fires"] if f.get("run_id")]
    assert 299 < fire["late_s"] < 301 and fire["late_cause"] == "catchup"


def test_a_fan_out_member_takes_its_triggers_jitter() -> None:
    h = History()
    h.create("fan", "0 * * * *", jitter_s=3600.0)
    h.now = FIRE + JITTER - h.step
    run = h.trigger("fan", FIRE, target="all:edge", jitter_s=JITTER.total_seconds())
    member = h.member(run, "ex1")
    h.tick(timedelta(seconds=3) - h.step)
    h.started(member, executor="ex1")
    views = fold(h.events)
    assert views.runs.rows[member].lateness_s == 3.0


def test_a_trigger_folded_after_its_start_takes_its_jitter_out() -> None:
    # why: a start folded first (its trigger redelivered later) measured from the fire alone
    h = jittered()
    trigger = next(e for e in h.events if type(e.envelope.event).__name__ == "RunTriggered")
    events = [e for e in h.events if e is not trigger] + [trigger]
    views = fold([msgspec.structs.replace(e, seq=i) for i, e in enumerate(events, 1)])
    [row] = [r for r in views.runs.rows.values() if r.run_id]
    assert row.lateness_s == 2.0
    [s] = stats.compute(views.runs, now=NOW)
    assert s.lateness_p50 == 2.0


def test_views_with_jitter_restore_from_a_snapshot_as_folded() -> None:
    views = fold(jittered().events)
    restored = snapshot.restore(snapshot.snapshot(views))
    assert restored is not None
    assert snapshot.canonical(restored) == snapshot.canonical(views)


def test_the_lateness_histogram_counts_from_fire_plus_jitter() -> None:
    h = jittered()
    views = fold(h.events)
    metrics = Metrics(port=0)
    metrics.observe(views, h.events)
    registry: CollectorRegistry = metrics.registry
    total = registry.get_sample_value("jetcron_run_lateness_seconds_sum", {"schedule": "nightly"})
    assert total == 2.0


def test_a_miss_is_not_told_as_caught_up_by_a_jittered_fire_on_time() -> None:
    # why: fates._caught_up names the late trigger recorded with a miss as what ran instead;
    # a fire triggered at its jitter in the same tick was on time, not the catch-up's run
    h = History()
    h.create("nightly", "0 * * * *", jitter_s=3600.0)
    h.now = FIRE + JITTER - h.step
    h.missed("nightly", FIRE - timedelta(hours=1))
    h.trigger("nightly", FIRE, jitter_s=JITTER.total_seconds())
    views = fold(h.events)
    since = (FIRE - timedelta(hours=1)).isoformat()
    fires = fire_queries.fires_of(views, {"name": "nightly", "since": since}, NOW)["fires"]
    [missed] = [f for f in fires if f["fate"] == "missed"]
    assert not missed.get("instead"), missed
