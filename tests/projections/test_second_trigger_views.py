"""A second `run.triggered` of a run already triggered changes no view: rejected, in health."""

from __future__ import annotations

from datetime import timedelta

import pytest
from projection_factory import T0, History

from jetcron.projections import health, snapshot, state


def _ended_then_triggered_again() -> tuple[History, str]:
    h = History()
    h.create("pz", "@every 10s")
    run = h.trigger("pz", T0)
    h.started(run)
    h.succeeded(run)
    h.add(h.triggers[run], actor="jetcron")  # why: a copy re-appended with a fresh msg id
    return h, run


@pytest.mark.parametrize("one_by_one", [False, True], ids=["batch", "apply"])
def test_a_second_trigger_of_an_ended_run_changes_no_view(one_by_one: bool) -> None:
    h, run = _ended_then_triggered_again()
    views = state.new_views()
    if one_by_one:
        for stored in h.events:
            state.apply(views, stored)
    else:
        state.apply_batch(views, h.events)
    clean = state.new_views()
    state.apply_batch(clean, h.events[:-1])
    clean.position = views.position

    assert views.rejected == 1
    assert [s.problem for s in views.rejected_samples] == [
        f"run.triggered of run {run}: the run was already triggered (seq 2)"
    ]
    views.rejected, views.rejected_samples = 0, []
    assert snapshot.canonical(views) == snapshot.canonical(clean)
    assert views.runs.rows[run].status == "succeeded"


def test_health_lists_the_second_trigger() -> None:
    h, _ = _ended_then_triggered_again()
    views = state.replay(h.events)
    report = health.evaluate(views, now=T0 + timedelta(minutes=1), executors_online={})
    assert [(p.kind, p.detail.split(":")[0]) for p in report.problems] == [
        ("rejected_run_events", "rejected, not folded")
    ]
