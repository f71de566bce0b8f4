"""An online executor whose heartbeat names a problem (its journal unwritable) is unhealthy;
a heartbeat from an executor too old to carry problems reads as none."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from jetcron.log.heartbeats import ExecutorInfo
from jetcron.projections import health
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
        health.Problem(
            kind="executor_problem", subject="ex1", detail="journal unwritable: no space left on /j"
        )
    ]


def test_an_older_heartbeat_without_problems_reads_as_none() -> None:
    old = b'{"name": "ex1", "targets": ["ex1"], "interval_s": 5.0}'
    info = msgspec.json.decode(old, type=ExecutorInfo)

    assert info.problems == []
    assert health.evaluate(INITIAL, now=NOW, executors_online={"ex1": info}).healthy
