"""A stale view says so: the verdict, the status notes, and a query while the follower is down."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from jetcron.client import query
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.log.connection import ConnectionWatch
from jetcron.log.stream import EventLog
from jetcron.projections import schedule_queries
from jetcron.projections.service import ProjectionService
from jetcron.projections.staleness import Stale, notes, verdict
from jetcron.scheduler.handler import CommandHandler

T = 1_790_000_000.0  # 2026-09-21T14:13:20Z
AT = "2026-09-21T14:13:20Z"


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"behind": 0}, None),
        ({"behind": 3}, (AT, "3 event(s) behind the log")),
        ({"behind": None}, (AT, "the log did not answer how far it goes")),
        (
            {"behind": 0, "down_since": T + 5, "error": "stream not found"},
            (AT, "the projection follower is down (stream not found)"),
        ),
        ({"behind": 2, "current_at": None}, ("2026-09-21T14:10:00Z", "2 event(s) behind the log")),
    ],
    ids=["current", "behind", "log-silent", "follower-down", "never-current"],
)
def test_verdict(kw: dict[str, object], expected: tuple[str, str] | None) -> None:
    args: dict[str, object] = {
        "down_since": None,
        "error": "",
        "current_at": T,
        "started_at": T - 200,
    } | kw
    stale = verdict(**args)  # type: ignore[arg-type]
    assert (None if stale is None else (stale.iso(), stale.reason)) == expected


def test_status_notes_say_what_is_wrong() -> None:
    nats = {
        "unreachable_since": None,
        "last_outage": {"from": "a", "to": "b", "seconds": 61.3},
        "reconnects": 1,
    }
    followers = {
        "breaker": {"down_since": "2026-01-01T00:00:00Z", "error": "timeout", "restarts": 0},
        "ticker": {"down_since": None, "restarts": 2},
        "projections": {"down_since": None, "restarts": 0},
    }
    stale = Stale(since=datetime(2026, 1, 1, tzinfo=UTC), reason="4 event(s) behind the log")
    assert notes(nats, followers, stale) == [
        "last NATS outage a .. b (61 s); 1 reconnect(s)",
        "follower breaker down since 2026-01-01T00:00:00Z: timeout",
        "follower ticker restarted 2 time(s); reading now",
        "views stale since 2026-01-01T00:00:00Z: 4 event(s) behind the log",
    ]
    assert notes({"reconnects": 0}, {}, None) == []


async def test_queries_say_the_view_is_stale_while_its_follower_is_down(
    nc, caplog: pytest.LogCaptureFixture
) -> None:
    event_log = await EventLog(nc).open()
    d = ScheduleDefinition(spec="*/5 * * * *", job=Job(command=["true"]))
    await CommandHandler(event_log).handle(
        CreateSchedule(name="a", command_id="c1", at=datetime.now(UTC), actor="t", definition=d)
    )
    service = ProjectionService(nc, event_log, connection=ConnectionWatch())
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(service.run(stop, ready=ready))
    await ready.wait()
    assert [r["name"] for r in await query(nc, "schedules")] == ["a"]
    assert (await service.answer(schedule_queries.list_schedules, b""))[2] is None

    # the log goes away (here: its stream; an outage looks the same to the follower)
    await event_log.js.delete_stream(event_log.stream)
    async with asyncio.timeout(10):
        while service.health.down_since is None:
            await asyncio.sleep(0.05)
    with caplog.at_level(logging.WARNING, logger="jetcron.client"):
        rows = await query(nc, "schedules")
    assert [r["name"] for r in rows] == ["a"]  # still answers, from the frozen view ...
    [warning] = [r.getMessage() for r in caplog.records if r.name == "jetcron.client"]
    assert "stale since" in warning and "follower is down" in warning  # ... and says so
    report = await query(nc, "health")
    assert not report["healthy"]
    assert "follower_down" in [p["kind"] for p in report["problems"]]

    await event_log.ensure_stream()
    async with asyncio.timeout(20):
        while service.health.down_since is not None:
            await asyncio.sleep(0.1)
    assert (await service.answer(schedule_queries.list_schedules, b""))[2] is None
    stop.set()
    await task
    await event_log.close()


def test_status_notes_date_an_outage_from_the_last_answer_and_say_when_it_was_noticed() -> None:
    down = {
        "unreachable_since": "2026-12-02T14:33:22Z",
        "noticed_at": "2026-12-02T14:34:01Z",
        "last_error": "stale connection",
        "reconnects": 0,
    }
    assert notes(down, {}, None) == [
        "NATS unreachable since 2026-12-02T14:33:22Z (its last answer; noticed at "
        "2026-12-02T14:34:01Z): stale connection"
    ]
    hang = {
        "unreachable_since": None,
        "last_outage": {
            "from": "2026-12-02T14:40:00Z",
            "to": "2026-12-02T14:40:12Z",
            "seconds": 12.0,
            "noticed": "2026-12-02T14:40:02Z",
            "connection_held": True,
        },
        "reconnects": 0,
    }
    assert notes(hang, {}, None) == [
        "last NATS outage 2026-12-02T14:40:00Z .. 2026-12-02T14:40:12Z (12 s, noticed at "
        "2026-12-02T14:40:02Z, no answers though the connection held); 0 reconnect(s)"
    ]
