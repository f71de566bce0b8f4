"""Runs as they happen (`jetcron runs follow`), one event per line.

`event_line` is the one line format of run events: `<UTC time> <schedule> <what> <run>: <detail>`,
the same time format as jetcron's log lines.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from jetcron.cli import text
from jetcron.cli.common import echo
from jetcron.log.follow import FollowHealth

if TYPE_CHECKING:
    from nats.aio.client import Client

    from jetcron.domain.envelope import Envelope, StoredEvent
    from jetcron.log.stream import EventLog


async def follow(nc: Client, schedule: str | None, count: int | None, as_json: bool) -> None:
    """Print the log's trigger, fire and run events (of `schedule`, or all) appended from now
    on, in log order, until `count` are shown or the command is stopped."""
    import msgspec

    shown = 0
    async for batch in events(nc, schedule, say=True):
        for stored in batch:
            if count is not None and shown >= count:
                return
            if as_json:
                sys.stdout.write(msgspec.json.encode(stored.envelope).decode() + "\n")
                sys.stdout.flush()
            else:
                echo(event_line(stored.envelope))
            shown += 1
        if count is not None and shown >= count:
            return


async def events(
    nc: Client, schedule: str | None, *, say: bool = False
) -> AsyncIterator[list[StoredEvent]]:
    """Batches of the trigger, fire and run events (of `schedule`, or all) appended from now
    on, in log order; with `say`, a line on stderr once it follows.

    why a reader of the log (an ephemeral consumer), not core subscriptions: it is what an
    operator or auditor may use (their roles subscribe to nothing but their inbox, so a core
    subscription was refused and `runs follow` sat silent, newcomer16c #9), it is the web's
    /events way too, and it rides out outages without losing what was appended meanwhile.
    """
    import asyncio

    from jetcron.log.errors import transient
    from jetcron.log.stream import EventLog

    event_log = await EventLog(nc).open(create=False)
    health = _Announcing(f"following {schedule or 'all schedules'} (Ctrl-C stops)" if say else "")
    try:
        start = await event_log.last_seq() + 1
        while True:
            try:
                async for batch in _read(event_log, schedule, start, health):
                    start = batch[-1].seq + 1
                    health.announce()
                    # why: triggers are per target, not per schedule; the name says whose it is
                    yield [e for e in batch if schedule is None or _name(e) == schedule]
            except Exception as err:
                # why: the reader rides out most of an outage itself; what still escapes it (a
                # connection lost mid-request) only means: go on from the last event seen
                if not transient(err) or nc.is_closed:
                    raise
                await asyncio.sleep(1.0)
    finally:
        await event_log.close()


class _Announcing(FollowHealth):
    """A follower's health that says "following …" once, when it first reads: not before its
    consumer exists (a role that may not read the log gets only the refusal)."""

    def __init__(self, line: str) -> None:
        super().__init__("follow")
        self.line = line

    def announce(self) -> None:
        """Say the line, once."""
        if self.line:
            echo(self.line, err=True)
            self.line = ""

    def caught_up(self) -> None:
        self.announce()
        super().caught_up()


def _read(
    event_log: EventLog, schedule: str | None, start: int, health: FollowHealth
) -> AsyncIterator[list[StoredEvent]]:
    from jetcron import subjects

    return event_log.read(
        from_seq=start,
        subjects=subjects.followed_runs(schedule),
        follow=True,
        batch=500,
        health=health,
    )


def _name(stored: StoredEvent) -> str | None:
    return getattr(stored.event, "name", None)


def event_line(envelope: Envelope) -> str:
    """One event as one line: `<UTC time> <schedule> <what> <run> <detail>`."""
    e = envelope.event
    kind, what = str(e.__struct_config__.tag).split(".", 1)
    what = what.replace("_", " ")
    run_id = getattr(e, "run_id", "")
    head = f"{text.utc(envelope.at)} {e.name} {what}" + (
        f" {text.short_id(run_id)}" if run_id else ""
    )
    if kind == "fire":
        # why: a fire not run is recorded when it is decided (after an outage, many at once):
        # the time in front is that moment, not the fire's (newcomer19a #16)
        fire: Any = e  # why: every fire.* event is a FireEvent (not imported: follow stays light)
        head += f" fire {text.utc(fire.fire_time)}"
    detail = _detail(envelope)
    return f"{head}: {detail}" if detail else head


def _detail(envelope: Envelope) -> str:
    e: Any = envelope.event
    tag = str(e.__struct_config__.tag)
    if tag == "run.triggered":
        if e.manual:
            why = f" ({envelope.reason})" if envelope.reason else ""
            return f"manual by {envelope.actor}{why}, for {e.target}"
        backfill = f"backfill by {envelope.actor} of " if e.backfill_of else ""
        return f"{backfill}fire {text.utc(e.fire_time)}, for {e.target}"
    if tag == "run.started":
        return f"on {e.executor}" + (f", attempt {e.attempt}" if e.attempt > 1 else "")
    if tag == "run.succeeded":
        return f"in {text.duration(e.duration_s)}" + (f" on {e.executor}" if e.executor else "")
    if tag in ("run.failed", "run.timed_out"):
        from jetcron.projections.runs import failure_text

        said = _whole(failure_text(e))
        retry = f"; retry at {text.utc(e.next_retry_at)}" if e.next_retry_at else ""
        return said + retry
    return _whole(getattr(e, "reason", ""))


def _whole(reason: str | None) -> str:
    """A reason's first line, whole. why: a log line is not a table cell; cut at 100 characters,
    a coalesced fire lost the half that named the outage (newcomer20b F5)."""
    return text.first_line(reason, sys.maxsize)
