"""Runs as they happen (`jetcron runs follow`), one event per line.

`event_line` is the one line format of run events: `<UTC time> <schedule> <what> <run>: <detail>`,
the same time format as jetcron's log lines.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import TYPE_CHECKING, Any

from jetcron.cli import text
from jetcron.cli.common import echo

if TYPE_CHECKING:
    import asyncio

    from nats.aio.client import Client

    from jetcron.domain.events import Envelope


async def follow(nc: Client, schedule: str | None, count: int | None, as_json: bool) -> None:
    """Print the log's run and fire events as they are published (a core subscription).

    Best effort by design: it shows what is appended from now on, and drops a copy that
    JetStream turned away (a duplicate trigger, a lost start claim) by its identity.
    """
    import asyncio

    import msgspec

    from jetcron.domain.events import UnknownEvent, decode

    inbox: asyncio.Queue[bytes] = asyncio.Queue()
    subs = await watch(nc, schedule, inbox)
    echo(f"following {schedule or 'all schedules'} (Ctrl-C stops)", err=True)
    seen: deque[tuple[str, ...]] = deque(maxlen=1000)
    shown = 0
    try:
        while count is None or shown < count:
            envelope = decode(await inbox.get())
            if isinstance(envelope, UnknownEvent) or (schedule and envelope.event.name != schedule):
                continue
            key = identity(envelope)
            if key in seen:
                continue
            seen.append(key)
            if as_json:
                sys.stdout.write(msgspec.json.encode(envelope).decode() + "\n")
                sys.stdout.flush()
            else:
                echo(event_line(envelope))
            shown += 1
    finally:
        await unsubscribe(subs)


async def unsubscribe(subs: list[Any]) -> None:
    """Drop a follower's subscriptions; a connection already closed has dropped them."""
    import contextlib

    from nats.errors import ConnectionClosedError

    for sub in subs:
        with contextlib.suppress(ConnectionClosedError):  # why: not an error at Ctrl-C
            await sub.unsubscribe()


async def watch(nc: Client, schedule: str | None, inbox: asyncio.Queue[bytes]) -> list[Any]:
    """Subscribe to the run and fire events (of `schedule`, or all), each message's data into
    `inbox`; the subscriptions, flushed (nothing published after this is missed)."""
    from jetcron import subjects

    async def on_message(msg: Any) -> None:
        inbox.put_nowait(msg.data)

    watched = (
        [subjects.TRIGGERS, subjects.runs_of(schedule), subjects.fire(schedule)]
        if schedule
        else [subjects.TRIGGERS, subjects.RUNS, subjects.FIRES]
    )
    subs = [await nc.subscribe(s, cb=on_message) for s in watched]
    await nc.flush()
    return subs


def identity(envelope: Envelope) -> tuple[str, ...]:
    """What makes an event itself: type, run (or fire) and attempt, not its envelope id."""
    e = envelope.event
    kind = str(e.__struct_config__.tag)
    run_or_fire = getattr(e, "run_id", "") or getattr(e, "fire_id", "")
    return (kind, run_or_fire, str(getattr(e, "attempt", "")))


def event_line(envelope: Envelope) -> str:
    """One event as one line: `<UTC time> <schedule> <what> <run> <detail>`."""
    e = envelope.event
    what = str(e.__struct_config__.tag).split(".", 1)[1].replace("_", " ")
    run_id = getattr(e, "run_id", "")
    head = f"{text.utc(envelope.at)} {e.name} {what}" + (
        f" {text.short_id(run_id)}" if run_id else ""
    )
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

        said = text.first_line(failure_text(e), 100)
        retry = f"; retry at {text.utc(e.next_retry_at)}" if e.next_retry_at else ""
        return said + retry
    return text.first_line(getattr(e, "reason", ""), 100)
