"""A buffered fire keeps one fate when a pause or an update bumps its schedule's version before
it is skipped or triggered (its later event carries another fire id); no server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from projection_factory import T0, History, fold

from jetcron import ids
from jetcron.domain.events import FireBuffered, RunSkipped
from jetcron.projections import fire_queries, ledger

F1, F2 = T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)
NOW = T0 + timedelta(hours=1)
PAUSED = "paused: the schedule was paused while this fire waited for the run before it"


def _buffered_then(change: str) -> tuple[History, str]:
    """backup's F1 runs; F2 is buffered behind it; then `change` bumps the version."""
    h = History()
    h.create("backup")
    first = h.trigger("backup", F1)
    h.started(first)
    h.add(FireBuffered(**h._fire("backup", F2, False), blocking_run_id=first), actor="jetcron")
    if change == "pause":
        h.pause("backup", "maintenance")
        h.add(RunSkipped(**h._fire("backup", F2, False), reason=PAUSED), actor="jetcron")
    else:
        h.update("backup", description="edited")
        h.succeeded(first)
        h.succeeded(h.trigger("backup", F2))
    return h, first


@pytest.mark.parametrize(
    ("change", "fate"), [("pause", ("skipped", "")), ("update", ("triggered", "succeeded"))]
)
def test_a_buffered_fire_has_one_fate_after_a_version_bump(
    change: str, fate: tuple[str, str]
) -> None:
    h, first = _buffered_then(change)
    views = fold(h.events)
    params = {"name": "backup", "since": F1.isoformat(), "until": F2.isoformat(), "limit": 10}

    entries = [e for e in ledger.query(views.ledger, "backup") if e.fire_time == F2]
    fires = [f for f in fire_queries.fires_of(views, params, NOW)["fires"] if f["fate"] != "triggered"
             or f["utc"].startswith(F2.strftime("%Y-%m-%dT%H:%M"))]  # fmt: skip
    story = fire_queries.why_of(views, {**params, "time": F2.isoformat()}, NOW)

    assert [(e.outcome, e.status, e.blocking_run_id) for e in entries] == [(*fate, first)]
    assert entries[0].buffered_at is not None
    assert entries[0].fire_id == ids.fire_id(h.sid("backup"), 2, F2)
    assert [f["fate"] for f in fires] == [fate[0]]
    assert story["fate"] == fate[0]
    assert views.ledger.queued == {}
