"""`due` answers the soonest fires, capped, and says when there were more (no max-payload errors)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from projection_factory import History, fold

from jetcron.domain.definition import Job
from jetcron.projections import limits, schedule_queries

NOW = datetime(2024, 3, 1, 10, 7, 30, tzinfo=UTC)
TWELVE_HOURS = 12 * 3600
MAX_PAYLOAD = 1024 * 1024
"""nats-server's default max_payload."""


def sub_minute_views() -> object:
    h = History()
    for name, spec in [
        ("a", "@every 10s"),
        ("b", "@every 15s"),
        ("c", "@every 20s"),
        ("d", "* * * * *"),
    ]:
        h.create(name, spec, job=Job(command=["/usr/bin/true", "--" + "x" * 300]))
    return fold(h.events)


def test_twelve_hours_of_sub_minute_schedules_are_capped_soonest_first() -> None:
    answer = schedule_queries.due(sub_minute_views(), {"within_s": TWELVE_HOURS}, NOW)  # type: ignore[arg-type]

    fires = answer["fires"]
    assert len(fires) == limits.DUE_LIMIT and answer["more"] is True
    assert [f["utc"] for f in fires] == sorted(f["utc"] for f in fires)
    assert [(f["utc"][11:19], f["name"]) for f in fires[:4]] == [
        ("10:07:40", "a"),
        ("10:07:40", "c"),
        ("10:07:45", "b"),
        ("10:07:50", "a"),
    ]
    assert len(fires[0]["job"]) == schedule_queries.JOB_TEXT_MAX and fires[0]["job"].endswith("…")


def test_the_largest_answer_fits_in_one_nats_message() -> None:
    params = {"within_s": TWELVE_HOURS, "limit": 10**6}
    answer = schedule_queries.due(sub_minute_views(), params, NOW)  # type: ignore[arg-type]

    assert len(answer["fires"]) == limits.DUE_MAX and answer["more"]
    assert len(msgspec.json.encode(answer)) < MAX_PAYLOAD / 2


def test_not_capped_when_everything_fits() -> None:
    answer = schedule_queries.due(sub_minute_views(), {"within_s": 30, "limit": 10}, NOW)  # type: ignore[arg-type]

    assert [(f["utc"][11:19], f["name"]) for f in answer["fires"]] == [
        ("10:07:40", "a"),
        ("10:07:40", "c"),
        ("10:07:45", "b"),
        ("10:07:50", "a"),
        ("10:08:00", "a"),
        ("10:08:00", "b"),
        ("10:08:00", "c"),
        ("10:08:00", "d"),
    ]
    assert answer["more"] is False
