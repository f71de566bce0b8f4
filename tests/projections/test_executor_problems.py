"""An online executor whose heartbeat names a problem (its journal unwritable) is unhealthy;
a heartbeat from an executor too old to carry problems reads as none."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from jetcron.log.heartbeats import ExecutorInfo
from jetcron.projections import health, problems
from jetcron.projections.state import replay

INITIAL = replay([])

NOW = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)


def test_a_problem_in_a_heartbeat_is_a_health_problem_of_that_executor() -> None:
    online = {
        "ex1": ExecutorInfo(name="ex1", problems=["journal unwritable: no space left on /j"]),
        "ex2": ExecutorInfo(name="ex2"),
    }
    report = health.evaluate(INITIAL, now=NOW, executors_online=online)

    assert not report.healthy
    assert report.problems == [
        problems.Problem(
            kind="executor_problem", subject="ex1", detail="journal unwritable: no space left on /j"
        )
    ]


def test_an_older_heartbeat_without_problems_reads_as_none() -> None:
    old = b'{"name": "ex1", "targets": ["ex1"], "interval_s": 5.0}'
    info = msgspec.json.decode(old, type=ExecutorInfo)

    assert info.problems == []
    assert health.evaluate(INITIAL, now=NOW, executors_online={"ex1": info}).healthy


def test_a_trigger_whose_run_nobody_can_write_is_rejected_not_left_in_flight() -> None:
    """newcomer16b F8: a forged trigger with a dotted run id stayed `triggered` for good in the
    views (its events and the scheduler's run.lost were all refused) and made `health` report
    a false offline executor; now it is a rejected run event, not a run."""
    from projection_factory import History

    h = History()
    h.create("fast")
    good = h.trigger("fast")
    forged = msgspec.structs.replace(h.triggers[good], run_id="bad.run.id", fire_id="x")
    h.add(forged, actor="mallory")
    views = replay(h.events)
    report = health.evaluate(views, now=h.now, executors_online={})

    assert "bad.run.id" not in views.runs.rows and good in views.runs.rows
    assert views.rejected == 1
    [sample] = views.rejected_samples
    assert sample.problem == (
        "run.triggered of run 'bad.run.id': its run id or name is no subject token"
    )
    [offline] = [p for p in report.problems if p.kind == "executor_offline"]
    assert offline.detail.startswith("1 run(s) waiting since")  # the real one, not the forged
