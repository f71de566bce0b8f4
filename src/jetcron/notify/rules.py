"""What an event is about, which notifications want it, the message and its signature; pure."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from jetcron.domain.envelope import StoredEvent, event_type
from jetcron.domain.events import (
    Event,
    ExecutorOffline,
    ExecutorOnline,
    ExpectationMet,
    ExpectationMissed,
    RunEvent,
    RunFailed,
    RunLost,
    RunTimedOut,
    ScheduleCompleted,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleEvent,
    SchedulePaused,
    ScheduleResumed,
    ScheduleUpdated,
)
from jetcron.domain.notifications import Notification
from jetcron.domain.notify_events import NotifyTest

SYSTEM = "system"
"""The actor of the circuit breaker's pauses and resumes."""
SIGNATURE_HEADER = "X-Jetcron-Signature"
TIMESTAMP_HEADER = "X-Jetcron-Timestamp"
DELIVERY_HEADER = "X-Jetcron-Delivery"
_encoder = msgspec.json.Encoder()


def kind_of(event: Event, actor: str) -> str | None:
    """The notification kind of an event (None: nothing anyone is notified about)."""
    if isinstance(event, RunFailed | RunTimedOut):
        if event.next_retry_at is not None:
            return None  # why: a retry follows; only the final failure is news
        return "failure" if isinstance(event, RunFailed) else "timeout"
    if isinstance(event, RunLost):
        return "lost"
    if isinstance(event, ExpectationMissed):
        return "expectation_missed"
    if isinstance(event, ExpectationMet):
        return "expectation_met"
    if isinstance(event, NotifyTest):
        return "test"
    if isinstance(event, ExecutorOffline):
        return "executor_offline"
    if isinstance(event, ExecutorOnline):
        return "executor_online"
    if isinstance(event, SchedulePaused) and event.by_system:
        return "breaker_opened"
    if isinstance(event, ScheduleResumed) and actor == SYSTEM:
        return "breaker_closed"
    if isinstance(
        event,
        ScheduleCreated
        | ScheduleUpdated
        | ScheduleDeleted
        | SchedulePaused
        | ScheduleResumed
        | ScheduleCompleted,
    ):
        return "schedule_changed"
    return None


def schedule_of(event: Event) -> str:
    """The schedule an event is about ('' for none)."""
    if isinstance(event, NotifyTest | ExecutorOffline | ExecutorOnline):
        return ""
    return str(getattr(event, "name", ""))


def group_of(event: Event, kind: str) -> str:
    """What a storm is grouped by: the schedule (or the executor) and the kind, so a missed
    expectation never hides in a group of failures."""
    executor = isinstance(event, ExecutorOffline | ExecutorOnline)
    about = str(getattr(event, "name", "")) if executor else schedule_of(event)
    return f"{about}:{kind}"


def matches(n: Notification, kind: str, schedule: str, tags: Iterable[str]) -> bool:
    """Whether notification `n` wants an event of `kind` about `schedule` (with `tags`)."""
    if kind == "test":
        return False  # why: a test goes to the one sink it names (see wanted)
    if kind not in n.on:
        return False
    if not n.schedules and not n.tags:
        return True
    return schedule in n.schedules or bool(set(n.tags) & set(tags))


def wanted(
    notifications: Mapping[str, Notification], stored: StoredEvent, tags: Iterable[str]
) -> tuple[str | None, list[Notification]]:
    """The kind of a stored event and the notifications that want it."""
    event = stored.envelope.event
    kind = kind_of(event, stored.envelope.actor)
    if kind is None:
        return None, []
    if isinstance(event, NotifyTest):
        n = notifications.get(event.name)
        return kind, [] if n is None else [n]
    tags = list(tags)
    name = schedule_of(event)
    return kind, [n for n in notifications.values() if matches(n, kind, name, tags)]


def delivery_id(notification: str, seq: int) -> str:
    """The id of one notification's delivery of the event at `seq` (receivers dedupe on it)."""
    return f"{notification}:{seq}"


def message(n: Notification, kind: str, events: Sequence[StoredEvent]) -> dict[str, Any]:
    """The JSON body: the latest event in full, and how many of this kind the message stands for."""
    last = events[-1]
    event = last.envelope.event
    schedule = schedule_of(event)
    fire_time = getattr(event, "fire_time", None)
    body: dict[str, Any] = {
        "id": delivery_id(n.name, last.seq),
        "notification": n.name,
        "kind": kind,
        "resolved": kind in ("expectation_met", "breaker_closed", "executor_online"),
        "count": len(events),
        "event": {"type": event_type(event), "seq": last.seq, "at": _iso(last.envelope.at),
                  "actor": last.envelope.actor},
        "schedule": {"name": schedule, "id": getattr(event, "schedule_id", "")} if schedule else None,
        "run": _run(event),
        "fire": {"id": getattr(event, "fire_id", ""), "time": _iso(fire_time)} if fire_time else None,
        "executor": event.name if isinstance(event, ExecutorOffline | ExecutorOnline) else None,
        "cause": cause(event, last.envelope.reason),
        "why": why_command(schedule, fire_time),
        "events": [{"seq": s.seq, "at": _iso(s.envelope.at), "type": event_type(s.envelope.event),
                    "run_id": getattr(s.envelope.event, "run_id", "")} for s in events],
    }  # fmt: skip
    return body


def _run(event: Event) -> dict[str, Any] | None:
    if not isinstance(event, RunEvent):
        run_id = getattr(event, "run_id", "")
        return {"id": run_id} if run_id else None
    return {
        "id": event.run_id,
        "attempt": event.attempt,
        "executor": event.executor,
        "status": event_type(event).removeprefix("run."),
    }


def cause(event: Event, reason: str = "") -> str:
    """One line saying what happened."""
    if isinstance(event, RunFailed):
        # why: the executor's error already names the exit code when there is one
        return event.error or (
            f"exit code {event.exit_code}" if event.exit_code is not None else "failed"
        )
    if isinstance(event, RunTimedOut):
        return f"timed out after {event.timeout_s:g}s"
    if isinstance(event, RunLost):
        return event.reason or "no result: the executor went silent"
    if isinstance(event, ExpectationMissed):
        return (
            f"{event.kind} missed (deadline {_iso(event.deadline)}): {event.cause}: {event.detail}"
        )
    if isinstance(event, ExpectationMet):
        return f"{event.kind} met again: run {event.run_id[:8]} succeeded"
    if isinstance(event, NotifyTest):
        return "a test message (jetcron notify test)"
    if isinstance(event, ExecutorOffline):
        if event.stopped:
            return f"executor {event.name} stopped (it removed its heartbeat)"
        return f"executor {event.name} went offline (its heartbeat expired)"
    if isinstance(event, ExecutorOnline):
        return f"executor {event.name} is online"
    if isinstance(event, SchedulePaused):
        return event.reason or reason or "paused"
    if isinstance(event, ScheduleEvent):
        return f"{event_type(event)}" + (f": {reason}" if reason else "")
    return event_type(event)


def why_command(schedule: str, fire_time: datetime | None) -> str:
    """The command that tells the fire's story."""
    if not schedule:
        return ""
    return f"jetcron why {schedule}" + (f" {_iso(fire_time)}" if fire_time else "")


def encode(body: dict[str, Any]) -> bytes:
    """The body as sent (and signed)."""
    return _encoder.encode(body)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 keyed by the secret over `<timestamp>.<body>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def headers(body: bytes, timestamp: int, delivery: str, secret: str = "") -> dict[str, str]:
    """The webhook's headers: content type, delivery id, and (with a secret) the signature."""
    out = {"Content-Type": "application/json", DELIVERY_HEADER: delivery,
           TIMESTAMP_HEADER: str(timestamp)}  # fmt: skip
    if secret:
        out[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return out


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Groups:
    """Storm grouping: one message per (notification, schedule) per window; later events wait.

    `admit` says whether an event may go now; held events are released by `due` once the
    window since the last message has passed, to go out together as one message.
    """

    def __init__(self) -> None:
        self.last_sent: dict[tuple[str, str], float] = {}
        self.held: dict[tuple[str, str], list[Any]] = {}

    def admit(self, key: tuple[str, str], window_s: float, now: float) -> bool:
        """True: send now (and the window starts); False: hold it (see hold)."""
        last = self.last_sent.get(key)
        if window_s <= 0 or (key not in self.held and (last is None or now - last >= window_s)):
            self.last_sent[key] = now
            return True
        return False

    def hold(self, key: tuple[str, str], item: Any) -> None:
        """Keep an item until its group is due."""
        self.held.setdefault(key, []).append(item)

    def due(
        self, windows: Mapping[str, float], now: float
    ) -> list[tuple[tuple[str, str], list[Any]]]:
        """Groups whose window has passed, taken out (their window restarts now)."""
        out = []
        for key in list(self.held):
            if now - self.last_sent.get(key, 0.0) >= windows.get(key[0], 0.0):
                out.append((key, self.held.pop(key)))
                self.last_sent[key] = now
        return out
