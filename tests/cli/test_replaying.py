"""`jetcron replay --as-of` against a real nats-server: the projections' own fold, cut by time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import msgspec
import nats
from typer.testing import CliRunner

from jetcron.cli.main import app
from jetcron.domain.commands import CreateSchedule, PauseSchedule, UpdateSchedule
from jetcron.domain.definition import DefinitionPatch, Job, ScheduleDefinition
from jetcron.domain.envelope import StoredEvent
from jetcron.log.stream import EventLog
from jetcron.projections import schedule_queries, state
from jetcron.scheduler.handler import CommandHandler

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
DEFINITION = ScheduleDefinition(spec="*/5 * * * *", job=Job(command=["true"]))


async def history(url: str) -> tuple[list[StoredEvent], datetime]:
    """Two schedules, then (after the returned instant) an update and a pause; the stored log."""
    nc = await nats.connect(url)
    event_log = await EventLog(nc).open()
    try:
        h = CommandHandler(event_log)
        for name in ("a", "b"):
            await h.handle(
                CreateSchedule(
                    name=name, command_id=name, at=T0, actor="ann", definition=DEFINITION
                )
            )
        await asyncio.sleep(0.05)
        as_of = datetime.now(UTC)
        await asyncio.sleep(0.05)
        patch = DefinitionPatch(spec="*/10 * * * *")
        await h.handle(UpdateSchedule(name="a", command_id="u", at=T0, actor="bob", patch=patch))
        await h.handle(PauseSchedule(name="b", command_id="p", at=T0, actor="cy", reason="disk"))
        events = [e async for batch in event_log.read(until_seq=4) for e in batch]
    finally:
        await event_log.close()
        await nc.close()
    return events, as_of


def test_replay_as_of_equals_the_projection_fold(nats_url: str) -> None:
    events, as_of = asyncio.run(history(nats_url))
    expected = state.replay(events, as_of=as_of)

    result = CliRunner().invoke(
        app, ["replay", "--as-of", as_of.isoformat(), "--json", "--server", nats_url]
    )

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    rows = schedule_queries.list_schedules(expected, {}, as_of)
    assert shown["position"] == expected.position == 2
    assert shown["schedules"] == json.loads(msgspec.json.encode(rows))
    assert [(r["name"], r["spec"], r["state"]) for r in shown["schedules"]] == [
        ("a", "*/5 * * * *", "active"),
        ("b", "*/5 * * * *", "active"),
    ]


def test_replay_as_of_the_future_says_it_shows_now(nats_url: str) -> None:
    asyncio.run(history(nats_url))
    result = CliRunner().invoke(
        app, ["replay", "--as-of", "2099-01-01T00:00Z", "--json", "--server", nats_url]
    )
    assert result.exit_code == 0, result.output
    assert "--as-of 2099-01-01T00:00:00Z is in the future" in result.stderr
    assert json.loads(result.stdout)["position"] == 4


def test_replay_before_any_log_says_the_log_does_not_exist(nats_url: str) -> None:
    result = CliRunner().invoke(app, ["replay", "--server", nats_url])

    assert result.exit_code == 1, result.output
    assert "does not exist: `jetcron up` or `jetcron serve` creates it" in result.output
    assert "Traceback" not in result.output


def test_replay_as_of_before_the_log_began_says_where_it_begins(nats_url: str) -> None:
    # newcomer19c #14: an empty table and no word for a time before the first event
    events, _ = asyncio.run(history(nats_url))
    result = CliRunner().invoke(
        app, ["replay", "--as-of", "2020-01-01T00:00Z", "--json", "--server", nats_url]
    )
    assert result.exit_code == 0, result.output
    begins = datetime.fromtimestamp(events[0].stored_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result.stderr == (
        f"note: --as-of 2020-01-01T00:00:00Z is before the log begins (its first event: {begins})\n"
    )
    assert json.loads(result.stdout)["position"] == 0
