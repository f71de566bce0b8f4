"""Run events appended straight to a real log, as an executor would (no executor process):
for tests of what the views and the surfaces make of a run's states."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jetcron import ids, subjects
from jetcron.domain.definition import Job
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import RunEvent, RunTriggered
from jetcron.log.stream import EventLog


def envelope(event: object, actor: str = "test") -> Envelope:
    """An envelope stamped now."""
    return Envelope(id=ids.new_id(), at=datetime.now(UTC), actor=actor, event=event)  # type: ignore[arg-type]


async def trigger(log: EventLog, schedule: str, target: str) -> dict[str, Any]:
    """A manual trigger of `schedule` on `target`; the run's fields for its later events."""
    events, _ = await log.load(subjects.schedule(schedule))
    sid = events[0].envelope.event.schedule_id  # type: ignore[union-attr]
    fire_id = f"{sid}:manual:{ids.new_id()}"
    run = {"schedule_id": sid, "name": schedule, "fire_id": fire_id,
           "fire_time": datetime.now(UTC), "run_id": ids.run_id_for(fire_id)}  # fmt: skip
    job = Job(command=["true"])
    event = RunTriggered(**run, version=1, target=target, job=job, manual=True)
    await log.append(subjects.trigger(target), [envelope(event)])
    return run


async def report(log: EventLog, target: str, *events: RunEvent) -> None:
    """Events of a run as its executor appends them (on its own subject)."""
    for event in events:
        subject = subjects.run_by(event.name, event.run_id, target, event.executor)
        await log.append(subject, [envelope(event, f"executor:{event.executor}")])
