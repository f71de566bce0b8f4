"""Bounded views: the last N finished rows per schedule, evicted in fold order; daily rollups;
and the rule `replay --verify` compares by once run history has expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from projection_factory import History

from jetcron.domain import digest
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import StatsRolledUp
from jetcron.projections import fire_queries, rollups, snapshot, state, stats
from jetcron.projections.compare import Gaps, comparable

DAY1 = datetime(2026, 3, 2, tzinfo=UTC)


def busy_history(cycles: int, names: tuple[str, ...] = ("a", "b", "c")) -> History:
    """Every cycle: each schedule fires and succeeds; some fires are missed, some runs manual."""
    h = History(start=DAY1, step=timedelta(seconds=1))
    for name in names:
        h.create(name, spec="* * * * *")
    for i in range(cycles):
        for name in names:
            run = h.trigger(name, DAY1 + timedelta(minutes=i), manual=i % 5 == 2)
            h.started(run)
            if i % 9 == 0:
                h.failed(run)
            else:
                h.succeeded(run, duration_s=0.5 + i % 5)
            if i % 10 == 3:
                h.missed(name, DAY1 + timedelta(minutes=i, seconds=30))
    return h


def sizes(views: state.Views) -> tuple[int, int, int, int]:
    return (
        len(views.runs.rows),
        len(views.ledger.entries),
        len(views.audit.entries),
        len(views.schedules.marks),
    )


def folded(events: list[StoredEvent], keep: int) -> state.Views:
    views = state.new_views(keep)
    state.apply_batch(views, events)
    return views


def test_memory_is_flat_as_history_grows() -> None:
    at_300 = sizes(folded(busy_history(300).events, keep=40))
    h = busy_history(600)
    at_600 = sizes(folded(h.events, keep=40))
    assert at_300 == at_600
    runs, fires, audit_entries, marks = at_600
    assert runs == 3 * 40 and marks == 3 * 40
    assert fires == 3 * 40  # manual runs are not fires, missed fires are
    assert audit_entries == 3 + 3 * 40  # three creations stay + the last 40 manual triggers each
    assert sizes(folded(h.events, keep=0))[0] == 3 * 600  # keep 0: everything, as before


def test_the_window_keeps_the_newest_final_rows() -> None:
    views = folded(busy_history(100).events, keep=5)
    newest = sorted(r.fire_time for r in views.runs.rows.values() if r.schedule == "a")
    assert newest == [DAY1 + timedelta(minutes=m) for m in range(95, 100)]
    assert len(views.runs.by_schedule["a"]) == 5


def test_rows_in_flight_are_never_evicted() -> None:
    h = History(start=DAY1)
    h.create("a", spec="* * * * *")
    stuck = h.trigger("a", DAY1)
    h.started(stuck)
    for i in range(1, 50):
        run = h.trigger("a", DAY1 + timedelta(minutes=i))
        h.succeeded(run)
    views = folded(h.events, keep=3)
    assert views.runs.rows[stuck].status == "running"
    assert len(views.runs.rows) == 4
    assert views.ledger.entries[views.runs.rows[stuck].fire_id].status == "running"


def test_eviction_is_deterministic_across_chunks_and_snapshots() -> None:
    events = busy_history(300).events
    one_pass = folded(events, keep=25)
    views = state.new_views(25)
    for start in range(0, len(events), 997):
        state.apply_batch(views, events[start : start + 997])
        restored = snapshot.restore(snapshot.snapshot(views))
        assert restored is not None
        views = restored
    assert snapshot.snapshot(views) == snapshot.snapshot(one_pass)


# -- daily rollups -------------------------------------------------------------------------


def two_days() -> History:
    h = History(start=DAY1)
    h.create("a", spec="@every 6h")
    for day in (DAY1, DAY1 + timedelta(days=1)):
        for hour in (0, 6, 12, 18):
            run = h.trigger("a", day + timedelta(hours=hour))
            h.started(run)
            h.succeeded(run, duration_s=2.0)
    return h


def rolled_up(h: History, day: str, d: digest.Digest | None = None) -> None:
    views = folded(h.events, keep=0)
    sid = h.sid("a")
    d = d or views.runs.days[f"{sid}/{day}"].digest
    h.add(StatsRolledUp(schedule_id=sid, name="a", day=day, digest=d), actor="system:rollup")


def test_a_day_is_due_after_it_ended_plus_the_grace() -> None:
    views = folded(two_days().events, keep=0)
    day2_end = DAY1 + timedelta(days=2)
    assert [d.day for d in rollups.due(views.runs, DAY1 + timedelta(days=1, minutes=59))] == []
    assert [d.day for d in rollups.due(views.runs, DAY1 + timedelta(days=1, hours=1))] == [
        "2026-03-02"
    ]
    assert [d.day for d in rollups.due(views.runs, day2_end + timedelta(hours=1))] == [
        "2026-03-02",
        "2026-03-03",
    ]
    open_day = views.runs.days[f"{two_days().sid('a')}/2026-03-02"]
    assert open_day.digest.by_status == {"succeeded": 4}
    assert open_day.digest.durations == {digest.bucket(2.0): 4}


def test_a_rollup_closes_its_day_and_the_first_one_wins() -> None:
    h = two_days()
    rolled_up(h, "2026-03-02")
    rolled_up(h, "2026-03-02", digest.Digest(by_status={"failed": 99}))  # a second leader, late
    late = h.trigger("a", DAY1 + timedelta(hours=23))  # a result of that day after its rollup
    h.succeeded(late)
    views = folded(h.events, keep=0)
    sid = h.sid("a")
    rolled = rollups.day_digest(views.rollups, sid, "2026-03-02")
    assert rolled is not None and rolled.by_status == {"succeeded": 4}
    assert f"{sid}/2026-03-02" not in views.runs.days
    assert views.runs.days[f"{sid}/2026-03-03"].digest.by_status == {"succeeded": 4}


def test_stats_span_rolled_up_days_beyond_the_window_of_rows() -> None:
    h = two_days()
    rolled_up(h, "2026-03-02")
    views = folded(h.events, keep=2)  # rows: only the last 2 runs of day 2
    now = DAY1 + timedelta(days=2)
    merged = stats.compute_merged(views.runs, views.rollups, now=now, window=timedelta(days=3))
    # day 1 from its rollup, day 2 from its open day: every run, though rows hold only 2
    assert [(r.key, r.runs, r.by_status) for r in merged] == [("a", 8, {"succeeded": 8})]
    assert merged[0].success_rate == 1.0
    assert merged[0].duration_p50 == digest.upper_bound(digest.bucket(2.0))
    rows_only = stats.compute(views.runs, now=now, window=timedelta(days=3))
    assert rows_only[0].runs == 2
    exact = stats.compute_merged(views.runs, views.rollups, now=now, window=timedelta(hours=13))
    assert exact[0].runs == 2 and exact[0].duration_p50 == 2.0  # no rollup: exact, from rows


# -- the comparison rule of replay --verify ----------------------------------------------


def expired(events: list[StoredEvent], before: int) -> list[StoredEvent]:
    """The log after run history below `before` aged out (definitions and rollups stay)."""
    return [
        s
        for s in events
        if s.seq >= before or type(s.event).__name__.startswith(("Schedule", "StatsRolledUp"))
    ]


def test_gaps_find_the_horizon() -> None:
    gaps = Gaps()
    gaps.see([1, 2, 5, 6], first_ns=0)
    gaps.see([9], first_ns=42)
    assert (gaps.horizon, gaps.horizon_ns) == (9, 42)
    gaps.end(12)
    assert gaps.horizon == 13
    whole = Gaps()
    whole.see(range(1, 100))
    whole.end(99)
    assert whole.horizon == 1


@pytest.mark.parametrize("keep", [0, 30])
def test_live_equals_rebuild_after_expiry_under_the_rule(keep: int) -> None:
    h = busy_history(120)
    rolled_up(h, "2026-03-02")
    live = msgspec.to_builtins(folded(h.events, keep))
    cut = len(h.events) // 2 + 1  # mid-run: partial runs on the rebuild side
    kept = expired(h.events, cut)
    gaps = Gaps()
    gaps.see([s.seq for s in kept])
    rebuilt = msgspec.to_builtins(folded(kept, keep))
    assert rebuilt != live
    a, b = comparable(rebuilt, live, gaps.horizon)
    assert a == b
    # the rollups in full, but for what forgotten deleted schedules' loose runs added
    rolled = {k: v for k, v in live["rollups"].items() if k != "forgotten"}
    assert len(a["runs"]["rows"]) > 10 and a["rollups"] == rolled
    assert a["schedules"]["rows"]["a"]["definition"] == live["schedules"]["rows"]["a"]["definition"]


def test_the_rule_still_finds_a_real_difference() -> None:
    h = busy_history(60)
    live = folded(h.events, 0)
    kept = expired(h.events, len(h.events) // 2)
    rebuilt = folded(kept, 0)
    newest = max(rebuilt.runs.rows.values(), key=lambda r: r.seq)
    newest.status = "failed"  # a fold bug on a row whose events are all in the log
    gaps = Gaps()
    gaps.see([s.seq for s in kept])
    a, b = comparable(msgspec.to_builtins(rebuilt), msgspec.to_builtins(live), gaps.horizon)
    assert a != b


def test_fires_older_than_the_window_are_forgotten_not_unrecorded() -> None:
    h = History(start=DAY1)
    h.create("a", spec="* * * * *")
    for i in range(30):
        h.succeeded(h.trigger("a", DAY1 + timedelta(minutes=i)))
    views = folded(h.events, keep=5)
    now = DAY1 + timedelta(minutes=30)
    since = (DAY1 - timedelta(seconds=1)).isoformat()
    fires = fire_queries.fires_of(views, {"name": "a", "since": since, "limit": 100}, now)["fires"]
    fates = [f["fate"] for f in fires if f["utc"] < "2026-03-02T00:29"]
    assert "unrecorded" not in fates
    # fire 0 came before the creation (not forgotten: it never was), 1-24 evicted, 25-28 kept
    assert fates == ["not_created"] + ["forgotten"] * 24 + ["triggered"] * 4


def test_fires_older_than_the_retention_are_forgotten() -> None:
    h = History(start=DAY1)
    h.create("a", spec="0 * * * *")
    for i in range(48):
        h.succeeded(h.trigger("a", DAY1 + timedelta(hours=i)))
    kept = [s for s in h.events if s.seq == 1 or s.event.fire_time >= DAY1 + timedelta(days=1)]
    views = folded(kept, keep=500)  # a rebuild after the first day's runs expired
    now = DAY1 + timedelta(days=2)
    params = {"name": "a", "since": (DAY1 - timedelta(seconds=1)).isoformat(), "limit": 100}
    fates = [f["fate"] for f in fire_queries.fires_of(views, params, now)["fires"]]
    assert fates.count("unrecorded") == 23  # (the first: before its creation)
    with_retention = {**params, "retention_s": 86400}
    fates = [f["fate"] for f in fire_queries.fires_of(views, with_retention, now)["fires"]]
    assert fates == ["not_created"] + ["forgotten"] * 23 + ["triggered"] * 24 + ["pending"]


def test_the_rule_leaves_out_what_folds_aging_events_only() -> None:
    live = {
        "runs": {"rows": {}},
        "ledger": {"entries": {}},
        "audit": {"entries": []},
        "schedules": {"rows": {"a": {"definition": {"spec": "@daily"}, "runs_total": 9}}},
        "notifications": {"rows": {"ops": {"sink": {"subject": "x"}, "delivered": 7}}},
        "hosts": {"online": {"old": True, "new": False}, "seq": {"old": 3, "new": 50}},
    }
    rebuilt = {
        **live,
        "schedules": {"rows": {"a": {"definition": {"spec": "@daily"}, "runs_total": 2}}},
        "notifications": {"rows": {"ops": {"sink": {"subject": "x"}, "delivered": 1}}},
        "hosts": {"online": {"new": False}, "seq": {"new": 50}},
    }
    a, b = comparable(rebuilt, live, horizon=10)
    assert a == b
    assert a["hosts"] == {"online": {"new": False}, "seq": {"new": 50}}
    assert a["notifications"]["rows"]["ops"] == {"sink": {"subject": "x"}}
    assert comparable(rebuilt, live, horizon=1) == (rebuilt, live)  # nothing expired: all of it
