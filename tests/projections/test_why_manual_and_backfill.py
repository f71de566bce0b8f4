"""`why` tells what the fires leave out: a failed manual run when no fire of the clock went
wrong, and a backfilled fire's own first run; no server."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from projection_factory import T0, History, fold

from jetcron import ids
from jetcron.projections import fire_queries

NOW = T0 + timedelta(hours=1)


def test_why_names_a_failed_manual_run_when_no_fire_went_wrong() -> None:
    h = History()
    h.create("failer", "0 0 1 1 *")
    run = h.trigger("failer", manual=True, actor="alice")
    h.failed(run, error="exit code 3\nerr")

    story = fire_queries.why_of(fold(h.events), {"name": "failer"}, NOW)

    assert [s["text"] for s in story["sentences"]] == [
        "No fire of the schedule's clock since 2024-01-01T00:00:01Z",
        f"The last manual run, {run[:8]} by alice at 2024-01-01T00:00:02Z, failed: exit code 3",
    ]


def test_why_of_a_backfilled_fire_tells_its_first_run_too() -> None:
    h = History()
    h.create("flaky", "*/5 * * * *")
    fire = T0 + timedelta(minutes=5)
    first = h.trigger("flaky", fire)
    h.failed(first, error="boom")
    trigger = h.triggers[first]
    slot = ids.slot_id(trigger.schedule_id, fire)
    backfill = msgspec.structs.replace(
        trigger, fire_id=ids.backfill_fire_id(slot, 0), backfill_of=slot,
        run_id=ids.run_id_for(ids.backfill_fire_id(slot, 0)),
    )  # fmt: skip
    h.triggers[backfill.run_id] = backfill
    h.add(backfill, actor="alice", reason="fixed")
    h.succeeded(backfill.run_id)

    story = fire_queries.why_of(fold(h.events), {"name": "flaky", "time": "00:05"}, NOW)
    texts = [s["text"] for s in story["sentences"]]

    assert texts[1] == f"First triggered as run {first[:8]} at 2024-01-01T00:00:02Z: failed: boom"
    assert texts[2].startswith(f"Backfilled by alice as run {backfill.run_id[:8]}")
    assert story["sentences"][1]["evidence"]["what"] == "run.triggered"
