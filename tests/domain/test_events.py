"""The stored form of events: round trips, unknown input, schema evolution and upcasting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from jetcron.domain import envelope as codec
from jetcron.domain import events, notify_events
from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.definition import (
    CatchUp,
    Conditions,
    Job,
    RetryPolicy,
    ScheduleDefinition,
)
from jetcron.domain.digest import Digest
from jetcron.domain.envelope import AnyEvent, Envelope, UnknownEvent, decode, encode, event_type
from jetcron.domain.events import (
    CalendarCreated,
    CalendarDeleted,
    CalendarReferenced,
    CalendarUpdated,
    Event,
    FireBuffered,
    FireMissed,
    FireSkipCancelled,
    FireSkipPlanned,
    HealthAcknowledged,
    RunCancelled,
    RunCancelRequested,
    RunDeferred,
    RunFailed,
    RunHandedBack,
    RunLost,
    RunOutput,
    RunSkipped,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunTriggered,
    ScheduleCompleted,
    ScheduleCreated,
    ScheduleDeleted,
    SchedulePaused,
    ScheduleResumed,
    ScheduleUpdated,
    StatsRolledUp,
)
from jetcron.domain.notifications import Notification, Sink

UTC = UTC
AT = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC)
LATER = AT + timedelta(minutes=5)
SCHED = {"schedule_id": "5f3a9c01e2d4b6a8c0e1", "name": "backup"}
FIRE = {**SCHED, "fire_id": "5f3a9c01e2d4b6a8c0e1:v3:20260329T013000Z", "fire_time": AT}
RUN = {**FIRE, "run_id": "a1b2c3d4e5f6a7b8c9d0", "executor": "nas-1", "attempt": 2}
OUTPUT = RunOutput(stdout="ok\n", stderr="warn: ünïcode ✓\n", stdout_truncated=True)
FULL_DEFINITION = ScheduleDefinition(
    spec="30 1 * * *",
    job=Job(
        command=["rsync", "-a", "/srv", "nas:/b"],
        cwd="/srv",
        env={"LANG": "C"},
        params={"depth": 2, "dry": False},
    ),
    tz="Europe/Berlin",
    target="all:nas",
    timeout_s=None,
    retry=RetryPolicy(max_attempts=3, initial_backoff_s=1.5),
    overlap="buffer_one",
    catchup=CatchUp(policy="all", max_fires=5),
    start=AT,
    end=AT + timedelta(days=30),
    jitter_s=12.5,
    max_runs=10,
    breaker_threshold=0,
    breaker_cooldown_s=900.0,
    conditions=Conditions(disk_path="/srv", disk_above_percent=80.0, on_expire="force"),
    description="nightly backup",
    tags=["nas", "backup"],
    metadata={"owner": "ops"},
)

SAMPLES: dict[type[Event], Event] = {
    ScheduleCreated: ScheduleCreated(**SCHED, version=1, definition=FULL_DEFINITION),
    ScheduleUpdated: ScheduleUpdated(
        **SCHED, version=2, definition=FULL_DEFINITION, changed=["spec", "tz"]
    ),
    SchedulePaused: SchedulePaused(
        **SCHED, version=3, reason="3 failures", by_system=True, resume_at=LATER
    ),
    ScheduleResumed: ScheduleResumed(**SCHED, version=4),
    ScheduleCompleted: ScheduleCompleted(**SCHED, version=5, reason="no fires left"),
    ScheduleDeleted: ScheduleDeleted(**SCHED, version=6),
    FireSkipPlanned: FireSkipPlanned(
        **SCHED, version=7, fire_time=LATER, by="alice", reason="holiday"
    ),
    FireSkipCancelled: FireSkipCancelled(**SCHED, version=8, fire_time=LATER),
    CalendarCreated: CalendarCreated(
        name="maint",
        version=1,
        definition=CalendarDefinition(
            tz="Europe/Berlin",
            windows=["0 2 * * sun for 4h"],
            dates=[AT.date()],
            ranges=["2026-12-24..2026-12-31"],
        ),
    ),
    CalendarUpdated: CalendarUpdated(
        name="maint",
        version=2,
        definition=CalendarDefinition(windows=["0 3 * * sat for 1h"]),
        changed=["windows", "dates", "ranges", "tz"],
    ),
    CalendarDeleted: CalendarDeleted(name="maint", version=3),
    CalendarReferenced: CalendarReferenced(name="maint", schedule="backup"),
    RunTriggered: RunTriggered(
        **FIRE,
        run_id="r1",
        version=3,
        target="all:nas",
        job=Job(action="http", params={"url": "http://x"}),
        timeout_s=60.0,
        retry=RetryPolicy(max_attempts=2),
        conditions=Conditions(max_load=1.5),
        manual=True,
    ),
    FireMissed: FireMissed(**FIRE, reason="outside catch-up window"),
    RunSkipped: RunSkipped(**FIRE, reason="overlap", blocking_run_id="r0"),
    FireBuffered: FireBuffered(**FIRE, blocking_run_id="r0"),
    RunCancelRequested: RunCancelRequested(**SCHED, run_id="r0", reason="cancel_previous"),
    RunStarted: RunStarted(**RUN, pid=4242, host_time=LATER),
    RunSucceeded: RunSucceeded(
        **RUN,
        exit_code=None,
        duration_s=1.25,
        output=OUTPUT,
        result={"rows": 3, "tables": ["a", "b"]},
    ),
    RunFailed: RunFailed(
        **RUN,
        exit_code=2,
        failure_class="permanent",
        error="boom",
        duration_s=0.5,
        output=OUTPUT,
        next_retry_at=LATER,
    ),
    RunTimedOut: RunTimedOut(
        **RUN, timeout_s=60.0, duration_s=60.1, output=OUTPUT, next_retry_at=LATER
    ),
    RunCancelled: RunCancelled(**RUN, reason="operator", duration_s=3.0),
    RunDeferred: RunDeferred(
        **RUN, reason="cpu 93%", pressure=0.93, deferrals=4, next_attempt_at=LATER
    ),
    RunLost: RunLost(**RUN, reason="no result within timeout + grace"),
    RunHandedBack: RunHandedBack(**RUN, reason="its supervisor died before it started the job"),
    events.ExpectationMissed: events.ExpectationMissed(
        schedule_id="5f3a9c01e2d4b6a8c0e1",
        name="backup",
        kind="done_by",
        deadline=AT,
        after=AT - timedelta(hours=4),
        cause="failed",
        detail="the run of 02:00 failed",
        fire_time=AT - timedelta(hours=4),
        run_id="r-1",
    ),
    events.ExpectationMet: events.ExpectationMet(
        schedule_id="5f3a9c01e2d4b6a8c0e1", name="backup", kind="done_by", deadline=AT, run_id="r-2"
    ),
    notify_events.NotificationAdded: notify_events.NotificationAdded(
        name="ops",
        notification=Notification(
            name="ops",
            sink=Sink(webhook="https://hooks.example/x", secret="s3"),
            on=["failure"],
            schedules=["backup"],
            tags=["nas"],
            window_s=30.0,
        ),
    ),
    notify_events.NotificationUpdated: notify_events.NotificationUpdated(
        name="ops", notification=Notification(name="ops", sink=Sink(subject="ops.pager"))
    ),
    notify_events.NotificationRemoved: notify_events.NotificationRemoved(name="ops"),
    events.ExecutorOffline: events.ExecutorOffline(name="nas"),
    events.ExecutorOnline: events.ExecutorOnline(name="nas"),
    notify_events.NotifyTest: notify_events.NotifyTest(name="ops"),
    notify_events.NotifyDelivered: notify_events.NotifyDelivered(
        name="ops",
        event_seq=7,
        kind="failure",
        schedule="backup",
        delivery_id="ops:7",
        attempts=2,
        grouped=3,
    ),
    notify_events.NotifyFailed: notify_events.NotifyFailed(
        name="ops",
        event_seq=7,
        kind="failure",
        schedule="backup",
        error="HTTP 500",
        attempts=1,
        final=False,
    ),
    StatsRolledUp: StatsRolledUp(
        schedule_id=SCHED["schedule_id"],
        name=SCHED["name"],
        day="2026-03-02",
        digest=Digest(
            by_status={"succeeded": 3, "failed": 1},
            durations={40: 3, 44: 1},
            lateness={0: 2, 9: 2},
            duration_max=1.2,
            last_success=AT,
            last_failure=AT,
        ),
    ),
    HealthAcknowledged: HealthAcknowledged(),
}
EVENT_TYPES: tuple[type[Event], ...] = AnyEvent.__args__  # type: ignore[attr-defined]


def envelope(event: Event, **kw: Any) -> Envelope:
    """An envelope around `event` with every optional field set."""
    fields = {
        "id": "e-1",
        "at": AT,
        "actor": "alice",
        "event": event,
        "reason": "because",
        "causation_id": "cmd-1",
        "correlation_id": "corr-1",
        **kw,
    }
    return Envelope(**fields)


def raw(data: dict[str, Any]) -> bytes:
    """An envelope JSON as some (older, newer or foreign) writer stored it."""
    return msgspec.json.encode(
        {"id": "e-1", "at": "2026-03-29T01:30:00Z", "actor": "alice", **data}
    )


# -- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__struct_config__.tag)
def test_round_trip(cls: type[Event]) -> None:
    assert cls in SAMPLES, f"add a representative {cls.__name__} to SAMPLES"
    env = envelope(SAMPLES[cls])
    assert decode(encode(env)) == env


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.__struct_config__.tag)
def test_round_trip_minimal_envelope(cls: type[Event]) -> None:
    env = Envelope(id="e-1", at=AT, actor="ticker", event=SAMPLES[cls])
    assert decode(encode(env)) == env


def test_tags_are_stable_unique_and_dotted() -> None:
    tags = [event_type(SAMPLES[cls]) for cls in EVENT_TYPES]
    assert len(set(tags)) == len(tags)
    assert all("." in tag and tag == tag.lower() for tag in tags)
    assert event_type(SAMPLES[SchedulePaused]) == "schedule.paused"
    assert event_type(SAMPLES[RunSkipped]) == "fire.skipped"


def test_defaults_are_omitted_on_the_wire() -> None:
    stored = msgspec.json.decode(
        encode(Envelope(id="e-1", at=AT, actor="a", event=ScheduleResumed(**SCHED, version=4)))
    )
    assert stored == {
        "id": "e-1",
        "at": "2026-03-29T01:30:00.123456Z",
        "actor": "a",
        "event": {"type": "schedule.resumed", **SCHED, "version": 4},
    }


# -- input this reader cannot decode ----------------------------------------------------


def test_unknown_type_names_the_type() -> None:
    got = decode(raw({"event": {"type": "schedule.renamed", **SCHED, "version": 2, "to": "b"}}))
    assert isinstance(got, UnknownEvent)
    assert got.type == "schedule.renamed"
    assert "unknown event type" in got.problem


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe\x00",
        b"not json",
        b"{",
        b"null",
        b"42",
        b'"text"',
        b"[]",
        b"[1, 2]",
        b"{}",
        b'{"event": 1}',
        b'{"event": "schedule.created"}',
        b'{"event": []}',
        b'{"event": {"name": "backup"}}',
    ],
    ids=[
        "empty",
        "binary",
        "text",
        "truncated",
        "null",
        "number",
        "string",
        "empty-list",
        "list",
        "empty-object",
        "event-number",
        "event-string",
        "event-list",
        "event-no-type",
    ],
)
def test_garbage_is_unknown(data: bytes) -> None:
    got = decode(data)
    assert isinstance(got, UnknownEvent)
    assert got.type == "?"
    assert "not a jetcron envelope" in got.problem


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"event": {"type": "schedule.deleted", "name": "backup"}}, "`schedule_id`"),
        ({"event": {"type": "schedule.deleted", **SCHED, "version": "two"}}, "$.event.version"),
        ({"event": {"type": "schedule.deleted", **SCHED, "version": 2}, "at": "yesterday"}, "$.at"),
    ],
    ids=["missing-required-field", "wrong-field-type", "bad-envelope-time"],
)
def test_malformed_known_type_is_unknown(data: dict[str, Any], problem: str) -> None:
    got = decode(raw(data))
    assert isinstance(got, UnknownEvent)
    assert got.type == "schedule.deleted"
    assert got.problem.startswith("malformed event") and problem in got.problem


@pytest.mark.parametrize("schema", ["two", None, [1]], ids=["string", "null", "list"])
def test_bad_schema_is_unknown_not_crashing(schema: Any) -> None:
    got = decode(
        raw({"schema": schema, "event": {"type": "schedule.deleted", **SCHED, "version": 2}})
    )
    assert isinstance(got, UnknownEvent)


# -- schema evolution --------------------------------------------------------------------


def test_extra_fields_from_a_newer_writer_are_ignored() -> None:
    env = envelope(SAMPLES[RunFailed])
    stored = msgspec.json.decode(encode(env))
    stored["event"]["host_labels"] = {"rack": "b2"}
    stored["event"]["output"]["stdout_lines"] = 3
    stored["signature"] = "ed25519:..."
    assert decode(msgspec.json.encode(stored)) == env


def test_old_payload_without_defaulted_fields_decodes() -> None:
    # why: what a first-release writer stored, before manual/retry/conditions existed.
    old = raw(
        {
            "event": {
                "type": "run.triggered",
                **SCHED,
                "fire_id": "f1",
                "fire_time": "2026-03-29T01:30:00Z",
                "run_id": "r1",
                "version": 3,
                "target": "nas-1",
                "job": {"command": ["true"]},
            }
        }
    )
    got = decode(old)
    assert isinstance(got, Envelope) and isinstance(got.event, RunTriggered)
    assert (got.schema, got.reason, got.causation_id) == (1, "", None)
    assert (got.event.manual, got.event.conditions) == (False, None)
    assert got.event.retry == RetryPolicy()
    assert got.event.fire_time == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_a_stored_trigger_with_the_removed_due_time_field_decodes() -> None:
    # why: RunTriggered.due_time was dropped (never set); events that carry it live forever
    stored = msgspec.json.decode(encode(envelope(SAMPLES[RunTriggered])))
    stored["event"]["due_time"] = "2026-03-29T01:35:00Z"
    assert decode(msgspec.json.encode(stored)) == envelope(SAMPLES[RunTriggered])


def _paused_v1_to_v2(event: dict[str, Any]) -> dict[str, Any]:
    """A hypothetical schema 2 of schedule.paused: `why`/`breaker` became `reason`/`by_system`."""
    reshaped = {k: v for k, v in event.items() if k not in ("why", "breaker")}
    return {**reshaped, "reason": event.get("why", ""), "by_system": event.get("breaker", False)}


def _paused_v2_to_v3(event: dict[str, Any]) -> dict[str, Any]:
    """A hypothetical schema 3: `reason` is prefixed with where it came from."""
    return {**event, "reason": f"[legacy] {event['reason']}"}


OLD_PAUSED = {
    "type": "schedule.paused",
    **SCHED,
    "version": 3,
    "why": "3 failures",
    "breaker": True,
}


@pytest.fixture
def paused_schema_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """schedule.paused at schema 2, with an upcaster from 1, for this test only."""
    monkeypatch.setitem(codec.UPCASTERS, ("schedule.paused", 1), _paused_v1_to_v2)
    monkeypatch.setitem(codec.CURRENT_SCHEMA, "schedule.paused", 2)


@pytest.mark.usefixtures("paused_schema_2")
def test_upcaster_reshapes_old_schema() -> None:
    got = decode(raw({"reason": "breaker", "event": OLD_PAUSED}))
    assert got == Envelope(
        id="e-1",
        at=datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        actor="alice",
        reason="breaker",
        schema=2,
        event=SchedulePaused(**SCHED, version=3, reason="3 failures", by_system=True),
    )


@pytest.mark.usefixtures("paused_schema_2")
def test_upcaster_chain_runs_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(codec.UPCASTERS, ("schedule.paused", 2), _paused_v2_to_v3)
    monkeypatch.setitem(codec.CURRENT_SCHEMA, "schedule.paused", 3)
    got = decode(raw({"event": OLD_PAUSED}))
    assert isinstance(got, Envelope) and isinstance(got.event, SchedulePaused)
    assert (got.schema, got.event.reason, got.event.by_system) == (3, "[legacy] 3 failures", True)


def test_current_schema_skips_upcasters(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(event: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("upcaster called for a current payload")

    monkeypatch.setitem(codec.UPCASTERS, ("schedule.paused", 1), fail)
    monkeypatch.setitem(codec.CURRENT_SCHEMA, "schedule.paused", 2)
    current = envelope(SAMPLES[SchedulePaused], schema=2)
    other = envelope(SAMPLES[ScheduleResumed])
    assert decode(encode(current)) == current
    assert decode(encode(other)) == other


@pytest.mark.usefixtures("paused_schema_2")
def test_upcast_result_is_still_validated() -> None:
    got = decode(raw({"event": {**OLD_PAUSED, "breaker": "yes"}}))
    assert isinstance(got, UnknownEvent)
    assert got.type == "schedule.paused" and "by_system" in got.problem


def test_a_skip_says_who_and_why() -> None:
    assert SAMPLES[FireSkipPlanned].fate == "skipped by alice: holiday"  # type: ignore[attr-defined]
    assert FireSkipPlanned(**SCHED, version=1, fire_time=AT).fate == "skipped by an operator"
