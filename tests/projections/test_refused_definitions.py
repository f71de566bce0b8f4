"""A definition in the log that today's validation refuses and no reader can handle (written by
an older jetcron or a raw client, on a real nats-server): refused the same way by every reader,
counted and named (health, show, fires, why), and every snapshot and checkpoint still works."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec
import pytest

from jetcron import subjects
from jetcron.client import query
from jetcron.clock import FakeClock
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import CatchUp, Conditions, Job, RetryPolicy, ScheduleDefinition
from jetcron.domain.envelope import Envelope, UnknownEvent, decode
from jetcron.domain.events import ScheduleCreated, ScheduleUpdated
from jetcron.errors import InvalidInput
from jetcron.log.stream import EventLog
from jetcron.projections import snapshot
from jetcron.projections.service import ProjectionService
from jetcron.scheduler import breaker, checkpoint
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.ticker import Ticker

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
HUGE = 99999999999999999999999  # why: > 2**64, what the tester's `--retries` stored
GOOD = ScheduleDefinition(spec="@daily", job=Job(command=["true"]))


async def _raw(event_log: EventLog, name: str, event: ScheduleCreated | ScheduleUpdated) -> None:
    """Append as a raw client would: no decider, no validation."""
    envelope = Envelope(id=f"raw-{name}-{event.version}", at=T0, actor="raw", event=event)
    await event_log.publish(subjects.schedule(name), envelope)


async def _seed(event_log: EventLog) -> None:
    handler = CommandHandler(event_log)
    [made] = await handler.handle(
        CreateSchedule(name="good", command_id="c1", at=T0, actor="t", definition=GOOD)
    )
    sid = made.event.schedule_id  # type: ignore[union-attr]
    bad = msgspec.structs.replace(GOOD, retry=RetryPolicy(max_attempts=HUGE))
    await _raw(
        event_log,
        "bad",
        ScheduleCreated(schedule_id="s-bad", name="bad", version=1, definition=bad),
    )
    worse = msgspec.structs.replace(GOOD, max_runs=HUGE, breaker_threshold=HUGE)
    await _raw(
        event_log,
        "good",
        ScheduleUpdated(schedule_id=sid, name="good", version=2, definition=worse),
    )
    # why: today's spec check refuses it; stored earlier, it has one fire (9909) and then none
    far = msgspec.structs.replace(GOOD, spec="@every 2900000d")
    await _raw(
        event_log,
        "far",
        ScheduleCreated(schedule_id="s-far", name="far", version=1, definition=far),
    )


def _decoded(definition: ScheduleDefinition) -> object:
    event = ScheduleCreated(schedule_id="s", name="bad", version=1, definition=definition)
    return decode(msgspec.json.encode(Envelope(id="e", at=T0, actor="a", event=event)))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"retry": RetryPolicy(max_attempts=HUGE)}, "a count"),
        ({"catchup": CatchUp(max_fires=2**63)}, "a count"),  # msgpack takes it; islice does not
        ({"max_runs": -HUGE}, "a count"),
        ({"timeout_s": 999999999 * 86400.0}, "a duration"),  # `--timeout 999999999d` once passed
        ({"conditions": Conditions(idle_minutes=1e300)}, "a duration"),
        ({"job": Job(action="a", params={"n": HUGE})}, "params: "),
    ],
    ids=["retries", "max-fires-2^63", "max-runs-negative", "timeout", "idle", "params"],
)
def test_decode_refuses_a_definition_no_reader_can_handle(change: dict, problem: str) -> None:
    decoded = _decoded(msgspec.structs.replace(GOOD, **change))
    assert isinstance(decoded, UnknownEvent)
    assert decoded.name == "bad" and f"cannot be handled ({problem}" in decoded.problem


def test_what_an_older_jetcron_accepted_still_reads() -> None:
    old = msgspec.structs.replace(
        GOOD, retry=RetryPolicy(max_attempts=5000), timeout_s=400 * 86400.0, tags=["bad tag!"]
    )
    decoded = _decoded(old)
    assert not isinstance(decoded, UnknownEvent)


async def test_every_reader_refuses_it_and_snapshots_keep_working(nc, event_log) -> None:
    await _seed(event_log)
    ticker = Ticker(event_log, clock=FakeClock(T0))
    await ticker.catch_up()
    assert ticker.fold.poison == 0, "skipped at decode, never a failed fold"
    entries = {e.name: e for e in ticker.state.entries.values()}
    assert sorted(entries) == ["far", "good"] and entries["good"].version == 1
    assert checkpoint.state_from(checkpoint.snapshot_of(ticker.state)) is not None

    guard = breaker.CircuitBreaker(event_log, CommandHandler(event_log))
    await guard.apply_batch([s async for batch in event_log.read() for s in batch])
    assert breaker.state_from(breaker.snapshot_of(guard.state, guard.position)) is not None

    service = ProjectionService(nc, event_log)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(service.run(stop, ready=ready))
    await ready.wait()
    await service.sync()
    try:
        assert service.views.poison == 2
        health = await query(nc, "health")
        refused = {
            p["subject"]: p["detail"]
            for p in health["problems"]
            if p["kind"] == "refused_definition"
        }
        assert sorted(refused) == ["bad", "good"]
        assert "does not exist and never fires" in refused["bad"]
        assert "fires by its previous definition" in refused["good"]
        with pytest.raises(
            InvalidInput,
            match=r"'bad': its definition v1 cannot be handled .* at log seq \d+, so it was refused",
        ):
            await query(nc, "schedule", {"name": "bad"})
        with pytest.raises(InvalidInput, match="was refused"):
            await query(nc, "fires", {"name": "bad"})
        with pytest.raises(InvalidInput, match="was refused"):
            await query(nc, "why", {"name": "bad"})
        good = await query(nc, "schedule", {"name": "good"})
        assert good["version"] == 1 and "previous definition" in good["refused"]
        why = await query(nc, "why", {"name": "good"})
        assert "was refused" in why["sentences"][0]["text"]
        far = await query(nc, "schedule", {"name": "far"})
        assert [f[:4] for f in far["next_fires"]] == ["9909"]
        again = snapshot.restore(snapshot.snapshot(service.views))
        assert again is not None and again.refused == service.views.refused
        # a valid create takes the refused name back, and health forgets it
        await CommandHandler(event_log).handle(
            CreateSchedule(name="bad", command_id="c2", at=T0, actor="t", definition=GOOD)
        )
        await service.sync()
        assert "bad" not in service.views.refused.by_name
        assert (await query(nc, "schedule", {"name": "bad"}))["version"] == 1
    finally:
        stop.set()
        await task
