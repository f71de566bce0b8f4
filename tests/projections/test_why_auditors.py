"""What `why` and `audit` tell an auditor (nc21b #1-#4): a success on a retry, a coming fire
an operator skipped, times to the second, and every backfill of a fire; no server."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from projection_factory import T0, History, fold

from jetcron import ids
from jetcron.cli import views as cli_views
from jetcron.domain.events import FireSkipPlanned
from jetcron.projections import fire_queries, queries, schedules

NOW = T0 + timedelta(hours=1)
FIRE = T0 + timedelta(minutes=5)


def _texts(story: dict[str, object]) -> list[str]:
    return [s["text"] for s in story["sentences"]]  # type: ignore[attr-defined, index]


def _skip(h: History, name: str, fire: datetime, reason: str, actor: str = "bob") -> None:
    s = h._bump(name)
    event = FireSkipPlanned(
        schedule_id=s.schedule_id, name=name, version=s.version, fire_time=fire, by=actor,
        reason=reason,
    )  # fmt: skip
    h.add(event, actor=actor)


def _backfill(h: History, first: str, n: int, reason: str) -> str:
    """A backfill of the fire `first` was triggered for (the n-th one), as `schedule backfill`
    sends it."""
    trigger = h.triggers[first]
    slot = ids.slot_id(trigger.schedule_id, trigger.fire_time)
    fire_id = ids.backfill_fire_id(slot, n)
    sent = msgspec.structs.replace(
        trigger, fire_id=fire_id, backfill_of=slot, run_id=ids.run_id_for(fire_id)
    )
    h.triggers[sent.run_id] = sent
    h.add(sent, actor="alice", reason=reason)
    return sent.run_id


def test_a_success_on_a_retry_is_not_told_with_the_failed_attempt_s_error() -> None:
    h = History()
    h.create("flaky", "*/5 * * * *")
    run = h.trigger("flaky", FIRE)
    h.failed(run, retry_in=timedelta(seconds=1), error="first")
    h.succeeded(run, attempt=2)

    story = fire_queries.why_of(fold(h.events), {"name": "flaky", "time": "00:05"}, NOW)

    assert _texts(story)[-1] == f"Run {run[:8]} succeeded on host-a after 2 attempts"


def test_why_of_a_coming_fire_an_operator_skipped_says_it_will_be_skipped() -> None:
    h = History(step=timedelta(seconds=1, microseconds=250_000))
    h.create("night", "0 2 * * *")
    coming = T0 + timedelta(days=1, hours=2)
    _skip(h, "night", coming, "maintenance")
    views = fold(h.events)

    story = fire_queries.why_of(views, {"name": "night", "time": "2024-01-02T02:00Z"}, NOW)
    row = schedules.get(views.schedules, "night")

    assert story["fate"] == "upcoming"
    # the one rule `schedule next` marks its rows by (the row's skips)
    assert row is not None and story["skipped"] == schedules.skipped(row, coming)
    assert story["skipped"] == "skipped by bob: maintenance"
    assert _texts(story) == [
        "2024-01-02T02:00:00Z: upcoming, will be skipped",
        # the skip's event time has microseconds; every text shows it to the second
        "Not due yet, and it will be skipped: skipped by bob at 2024-01-01T00:00:02Z (maintenance)",
    ]
    assert story["sentences"][1]["evidence"]["what"] == "schedule.fire_skip_planned"
    later = fire_queries.why_of(views, {"name": "night", "time": "2024-01-03T02:00Z"}, NOW)
    assert _texts(later) == ["2024-01-03T02:00:00Z: upcoming", "Not due yet"]


def test_a_fire_backfilled_twice_is_told_with_every_backfill_and_its_reason() -> None:
    h = History()
    h.create("mins", "*/5 * * * *")
    first = h.trigger("mins", FIRE)
    h.failed(first, error="boom")
    again = _backfill(h, first, 0, "fix")
    h.failed(again, error="still broken")
    last = _backfill(h, first, 1, "fixed for real")
    h.succeeded(last)
    views = fold(h.events)

    story = fire_queries.why_of(views, {"name": "mins", "time": "00:05"}, NOW)
    audit = [line for e in queries.audit_of(views, {"name": "mins"}, NOW) for line in
             cli_views.audit_lines(e)]  # fmt: skip

    assert _texts(story)[1:] == [
        f"First triggered as run {first[:8]} at 2024-01-01T00:00:02Z: failed: boom",
        f"Backfilled by alice as run {again[:8]} at 2024-01-01T00:00:04Z (fix): failed: "
        "still broken",
        f"Backfilled by alice as run {last[:8]} at 2024-01-01T00:00:06Z (fixed for real)",
        f"Run {last[:8]} succeeded on host-a after 1 attempt",
    ]
    assert audit[-2:] == [
        f"2024-01-01T00:00:04Z mins backfilled run {again[:8]} by alice: fix",
        f"2024-01-01T00:00:06Z mins backfilled run {last[:8]} by alice: fixed for real",
    ]


def test_why_names_the_reason_a_manual_run_was_cancelled() -> None:
    h = History()
    h.create("slow", "0 0 1 1 *")
    run = h.trigger("slow", manual=True, actor="alice")
    h.started(run)
    h.cancelled(run, reason="too slow")

    story = fire_queries.why_of(fold(h.events), {"name": "slow"}, NOW)

    assert _texts(story)[-1].endswith(", cancelled: too slow")
