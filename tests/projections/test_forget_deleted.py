"""Deleted schedules leave the views by the fold's rule (projections/forget.py): churn keeps
the views bounded, the rule gives the same views live, restored and rebuilt, and `stats` over
all history still counts what was forgotten."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from projection_factory import History
from prometheus_client import generate_latest

from jetcron.client import query
from jetcron.domain.claims import Claims
from jetcron.domain.commands import CreateSchedule, DeleteSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.errors import ScheduleNotFound
from jetcron.domain.events import StatsRolledUp
from jetcron.projections import (
    fire_queries,
    queries,
    rollups,
    schedule_queries,
    snapshot,
    state,
    stats_alltime,
)
from jetcron.projections.metrics import Metrics
from jetcron.projections.service import ProjectionService
from jetcron.scheduler.handler import CommandHandler

START = datetime(2026, 3, 2, tzinfo=UTC)
KEEP_DELETED = 10
PER_DAY = 24
"""One-shot schedules churned a day (an event every 12 minutes, five per schedule)."""


class Leader:
    """A history with a live fold beside it that appends the rollups a leader would."""

    def __init__(self, keep: int = 5, keep_deleted: int = KEEP_DELETED) -> None:
        self.h = History(start=START, step=timedelta(days=1) / (PER_DAY * 5))
        self.views = state.new_views(keep, keep_deleted)

    def sync(self) -> None:
        state.apply_batch(self.views, self.h.events[self.views.position :])

    def roll_up(self) -> None:
        self.sync()
        step, self.h.step = self.h.step, timedelta(0)  # why: every day then ends alike
        for o in rollups.due(self.views.runs, self.h.now):
            event = StatsRolledUp(
                schedule_id=o.schedule_id, name=o.name, day=o.day, digest=o.digest
            )
            self.h.add(event, actor="system:rollup")
        self.h.step = step
        self.sync()

    def churn(self, names: list[str], fail_every: int = 3) -> None:
        """Each name: created, run once (some fail), deleted."""
        for i, name in enumerate(names):
            h = self.h
            h.create(name)
            run = h.trigger(name)
            h.started(run)
            if i % fail_every == 0:
                h.failed(run)
            else:
                h.succeeded(run, duration_s=1.0 + i % 7)
            h.delete(name)
            self.roll_up()


def sizes(obj: Any, path: str = "") -> dict[str, int]:
    """The length of every map and list in the views (a map of maps: all its members)."""
    out: dict[str, int] = {}
    for field in obj.__struct_fields__:
        value, here = getattr(obj, field), f"{path}.{field}" if path else field
        if isinstance(value, dict):
            inner = [v for v in value.values() if isinstance(v, dict | list)]
            out[here] = len(value) + sum(len(v) for v in inner)
        elif isinstance(value, list):
            out[here] = len(value)
        elif isinstance(value, msgspec.Struct):
            out.update(sizes(value, here))
    return out


def churned(days: int, **kw: Any) -> Leader:
    leader = Leader(**kw)
    leader.churn([f"once-{i:05d}" for i in range(days * PER_DAY)])
    return leader


def test_churn_leaves_every_per_schedule_map_bounded() -> None:
    short, long = churned(4), churned(12)
    a, b = sizes(short.views), sizes(long.views)
    # why: both end at the same hour of a day; claims are bounded by their own rule (2 x 2048)
    grown = {k: (a[k], b[k]) for k in a if b[k] > a[k] and not k.startswith("claims.")}
    assert grown == {}
    held = len(long.views.schedules.deleted)
    assert held <= KEEP_DELETED + 2 * PER_DAY  # the kept, and those whose day is not rolled up
    assert long.views.schedules.forgotten == 12 * PER_DAY - held
    # a few bytes: larger counts (forgotten, the forgotten runs' digest) take more digits
    assert snapshot_bytes(long.views) <= snapshot_bytes(short.views) + 32


def snapshot_bytes(views: state.Views) -> int:
    """The snapshot's size without the claims (their own bound: 2 x 2048 triggers) and the
    position (a longer history has longer numbers)."""
    shell = msgspec.structs.replace(views, claims=Claims(), position=0)
    return len(snapshot.snapshot(shell))


def test_live_restored_and_rebuilt_views_are_the_same_bytes() -> None:
    leader = churned(3)
    # names used again (a forgotten predecessor shares the name's windows with the live one),
    # and a manual run and a cancel request in the audit
    for i in range(2 * PER_DAY):
        name = f"again-{i % 5}"
        leader.churn([name])
        if i % 4 == 0:
            leader.h.create(name)
            run = leader.h.trigger(name, manual=True)
            leader.h.cancel_requested(run)
            leader.h.cancelled(run)
            leader.h.delete(name)
    leader.roll_up()
    assert leader.views.schedules.forgotten > 3 * PER_DAY
    v = leader.views
    held = v.schedules.deleted.keys() | v.schedules.ids.keys()
    assert {e.schedule_id for e in v.audit.entries} <= held
    assert set(v.audit.known) | set(v.audit.run_entries) <= held
    assert {r.schedule_id for r in v.runs.rows.values()} <= held
    assert {e.schedule_id for e in v.ledger.entries.values()} <= held
    assert set(v.runs.tallies.revs) | set(v.rollups.days) | set(v.runs.rolled) <= held
    assert len(v.audit.triggered) == sum(e.type == "run.triggered" for e in v.audit.entries)
    assert len(v.schedules.marks) == sum(len(ids) for ids in v.schedules.ended.values())
    events = leader.h.events
    fresh = state.replay(events, keep=5, keep_deleted=KEEP_DELETED)
    assert snapshot.snapshot(fresh) == snapshot.snapshot(leader.views)
    # a follower folding in random batches, snapshotted and restored on its way
    rng = random.Random(7)
    views, at = state.new_views(5, KEEP_DELETED), 0
    while at < len(events):
        step = rng.randint(1, 60)
        state.apply_batch(views, events[at : at + step])
        at += step
        if rng.random() < 0.2:
            restored = snapshot.restore(snapshot.snapshot(views))
            assert restored is not None
            views = restored
    assert snapshot.snapshot(views) == snapshot.snapshot(fresh)
    assert snapshot.canonical(views) == snapshot.canonical(fresh)


def test_stats_over_all_history_still_count_forgotten_schedules() -> None:
    bounded, everything = churned(4), churned(4, keep_deleted=0)
    assert bounded.views.schedules.forgotten > 0
    assert everything.views.schedules.forgotten == 0
    now = bounded.h.now
    overall = [
        stats_alltime.everything(leader.views.runs, leader.views.rollups, now=now)["overall"]
        for leader in (bounded, everything)
    ]
    assert overall[0] == overall[1]
    assert overall[0][0].runs == 4 * PER_DAY
    # the cache a service keeps forgets them too
    cache = stats_alltime.Cache()
    stats_alltime.everything(bounded.views.runs, bounded.views.rollups, now=now, cache=cache)
    assert len(cache.parts) == len(bounded.views.runs.tallies.revs)


def test_a_recreated_name_shows_its_predecessor_while_the_rule_keeps_it() -> None:
    leader = Leader()
    h = leader.h
    h.create("nightly")
    old = h.trigger("nightly")
    h.started(old)
    h.succeeded(old)
    h.delete("nightly")
    h.create("nightly")
    new = h.trigger("nightly")
    h.started(new)
    h.succeeded(new)
    leader.sync()
    page = queries.list_runs(leader.views, {"schedule": "nightly"}, h.now)["runs"]
    assert [(r["run_id"], r.get("previous", False)) for r in page] == [(new, False), (old, True)]
    leader.churn([f"once-{i}" for i in range(3 * PER_DAY)])
    page = queries.list_runs(leader.views, {"schedule": "nightly"}, h.now)["runs"]
    assert [r["run_id"] for r in page] == [new]  # the predecessor is forgotten, not the live one
    assert (
        schedule_queries.one_schedule(leader.views, {"name": "nightly"}, h.now)["runs_total"] == 1
    )


def test_a_forgotten_name_is_not_found_and_the_answer_says_why() -> None:
    leader = churned(3)
    with pytest.raises(ScheduleNotFound, match="hold the last 10 deleted schedules"):
        queries.list_runs(leader.views, {"schedule": "once-00000"}, leader.h.now)
    with pytest.raises(ScheduleNotFound, match="definitions and audit stay in the log"):
        queries.audit_of(leader.views, {"name": "once-00000"}, leader.h.now)
    assert not queries.audit_of(leader.views, {"name": None}, leader.h.now)[0]["name"].endswith(
        "00000"
    )


def test_a_deleted_schedule_with_a_run_in_flight_stays_until_it_ends() -> None:
    leader = Leader()
    h = leader.h
    h.create("stuck")
    run = h.trigger("stuck")
    h.started(run)
    h.delete("stuck")
    leader.churn([f"once-{i}" for i in range(3 * PER_DAY)])
    assert "stuck" in {r.name for r in leader.views.schedules.deleted.values()}
    h.lost(run)
    leader.roll_up()
    h.tick(timedelta(days=1))
    leader.roll_up()  # its day rolled up: nothing holds it now
    leader.churn(["last"])
    assert "stuck" not in {r.name for r in leader.views.schedules.deleted.values()}
    assert run not in leader.views.runs.rows
    assert all(e.name != "stuck" for e in leader.views.audit.entries)
    assert all(e.schedule != "stuck" for e in leader.views.ledger.entries.values())


def test_metrics_drop_a_deleted_schedules_series() -> None:
    metrics, h = Metrics(0), History(start=START)
    views = state.new_views()

    def fold() -> str:
        new = h.events[views.position :]
        state.apply_batch(views, new)
        metrics.observe(views, new)
        return generate_latest(metrics.registry).decode()

    for name in ("gone", "kept"):
        h.create(name)
        run = h.trigger(name)
        h.started(run)
        h.succeeded(run)
    assert 'schedule="gone"' in fold()
    h.delete("gone")
    text = fold()
    assert 'schedule="gone"' not in text
    assert 'jetcron_runs_total{schedule="kept",status="succeeded"} 1.0' in text


def test_status_says_how_many_deleted_schedules_the_views_hold() -> None:
    from jetcron.cli.status import status_lines

    status = {
        "stream": {"name": "JETCRON", "messages": 9, "bytes": 900, "last_seq": 9, "replicas": 1},
        "projection": {"position": 9, "lag": 0, "poison_events": 0, "keep_runs": 500},
        "scheduler_replicas": [],
        "schedules": {"active": 2},
        "runs_in_flight": 0,
        "executors": [],
    }
    assert not any("deleted" in line for line in status_lines(status))
    status["projection"] |= {"keep_deleted": 1000, "deleted_held": 1000, "deleted_forgotten": 7}
    line = next(x for x in status_lines(status) if x.startswith("schedules"))
    assert line.endswith("; deleted: 1000 held, 7 forgotten (the views keep the last 1000)")


def test_why_of_a_time_before_the_name_was_created_again_says_views_forgot_some() -> None:
    leader = Leader()
    h = leader.h
    h.create("nightly", spec="0 * * * *")
    h.tick(timedelta(hours=2))
    h.delete("nightly")
    leader.churn([f"once-{i}" for i in range(3 * PER_DAY)])
    h.create("nightly", spec="0 * * * *")
    leader.sync()
    asked = (START + timedelta(hours=1)).isoformat()
    story = fire_queries.why_of(leader.views, {"name": "nightly", "time": asked}, h.now)
    assert story["fate"] == "not_created"
    assert "an earlier one of this name may have existed then" in story["sentences"][-1]["text"]


async def test_a_service_forgets_restores_and_says_so_over_nats(nc, event_log) -> None:
    h = CommandHandler(event_log)
    d = ScheduleDefinition(spec="*/5 * * * *", job=Job(command=["true"]))
    for i in range(8):
        name = f"gone-{i}"
        await h.handle(
            CreateSchedule(name=name, command_id=f"c{i}", at=START, actor="a", definition=d)
        )
        await h.handle(DeleteSchedule(name=name, command_id=f"d{i}", at=START, actor="a"))
    service = ProjectionService(nc, event_log, keep_deleted=3)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(service.run(stop, ready=ready))
    await ready.wait()
    await service.sync()
    projection = (await query(nc, "status"))["projection"]
    assert (projection["deleted_held"], projection["deleted_forgotten"]) == (3, 5)
    with pytest.raises(ScheduleNotFound, match="5 deleted before them no longer"):
        await query(nc, "runs", {"schedule": "gone-0"})
    assert await query(nc, "runs", {"schedule": "gone-7"}) is not None  # still held
    stop.set()
    await task  # snapshots on the way out
    restored = ProjectionService(nc, event_log, keep_deleted=3)
    await restored.restore()
    rebuilt = state.new_views(service.keep, 3)
    state.apply_batch(rebuilt, [s async for b in event_log.read() for s in b])
    assert snapshot.snapshot(restored.views) == snapshot.snapshot(rebuilt)
