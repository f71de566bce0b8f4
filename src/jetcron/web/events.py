"""/api/v1/events: server-sent events for fires, runs, schedule changes and (unfiltered) executors
going offline or coming back, as they land in the log.

Each SSE message is one stored event: `id` is its log sequence (a reconnecting EventSource
sends it back as Last-Event-ID and continues right after it), `event` its type
(`run.started`, `schedule.paused`, …), `data` the envelope as JSON. In log order, because it is
a reader of the log (an ephemeral consumer through log/), not a second copy of anything.

Besides the log's events, a `state` message (no `id`, so a reconnect still resumes after the
last event) says whether the stream is live: first when it opens, then whenever the gateway
loses or regains NATS or its read of the log: `{"live": false, "since": T, "problem": …}`
during an outage (the events of it follow once it is over), `{"live": true}` after.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from jetcron import subjects
from jetcron.domain.envelope import StoredEvent
from jetcron.log.follow import FollowHealth, iso
from jetcron.web.auth import User
from jetcron.web.gateway import Gateway
from jetcron.web.http import caller, gateway
from jetcron.web.problems import Problem

router = APIRouter(prefix="/api/v1", tags=["live"])
KEEPALIVE_S = 5.0
"""A comment line this often keeps proxies from closing an idle stream, and tells the console
the gateway is there (it takes 12 s of silence for a gateway gone without closing)."""
STATE_CHECK_S = 1.0
"""How often an idle stream looks at NATS and its reader, so an outage shows within seconds."""
_encoder = msgspec.json.Encoder()


def watched(schedule: str | None) -> list[str]:
    """The log subjects an event stream reads (triggers are per target: filtered by name);
    the stream of every schedule also has the executors going offline and coming back.

    why: a page left open on a running run cannot tell "running" from "running? executor
    offline" without them (nc21a #4); a schedule's stream leaves them out, since an
    executor's events name the executor, which its filter by name would mistake.
    """
    if schedule is None:
        return [subjects.SCHEDULES, *subjects.followed_runs(None), subjects.HOSTS]
    return [subjects.schedule(schedule), *subjects.followed_runs(schedule)]


def frame(stored: StoredEvent) -> bytes:
    """One SSE message: id = log sequence, event = event type, data = the envelope as JSON."""
    data = dict(msgspec.to_builtins(stored.envelope), seq=stored.seq, subject=stored.subject)
    kind = str(stored.event.__struct_config__.tag)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (stored.seq, kind.encode(), _encoder.encode(data))


def state_frame(state: dict[str, Any]) -> bytes:
    """A `state` message: no id, so it never moves where a reconnect resumes."""
    return b"event: state\ndata: %s\n\n" % _encoder.encode(state)


def state_of(gw: Gateway, health: FollowHealth) -> dict[str, Any]:
    """Whether the stream is live: NATS connected and the log reader reading."""
    if not gw.connected:
        since = gw.watch.unreachable_since
        # why: `cause` lets the console say "NATS is unreachable" once, with the views' probe
        problem = "NATS is unreachable (reconnecting)"
        return {"live": False, "since": iso(since), "problem": problem, "cause": "nats"}
    if health.down_since is not None:
        problem = f"reading the log failed: {health.error}"
        return {"live": False, "since": iso(health.down_since), "problem": problem}
    return {"live": True}


async def _batches(
    queue: asyncio.Queue[list[StoredEvent]], reader: asyncio.Task[None], check: float
) -> AsyncIterator[list[StoredEvent] | None]:
    """The reader's batches as they come, and None after `check` seconds without one."""
    while True:
        try:
            async with asyncio.timeout(check):
                batch: list[StoredEvent] | None = await queue.get()
        except TimeoutError:
            if reader.done():
                reader.result()  # why: a reader that failed ends the stream; the client reconnects
            batch = None
        yield batch


async def stream(
    gw: Gateway,
    schedule: str | None,
    start: int,
    keepalive: float = KEEPALIVE_S,
    check: float = STATE_CHECK_S,
) -> AsyncIterator[bytes]:
    """SSE bytes from log sequence `start` on, until the client goes away; a `state` message
    when it opens and whenever it stops or starts being live."""
    event_log = await gw.event_log()
    queue: asyncio.Queue[list[StoredEvent]] = asyncio.Queue(maxsize=64)
    health = FollowHealth("sse")

    async def pump() -> None:
        async for batch in event_log.read(
            from_seq=start, subjects=watched(schedule), follow=True, batch=500, health=health
        ):
            await queue.put(batch)

    reader = asyncio.create_task(pump())
    try:
        shown = state_of(gw, health)
        yield b"retry: 2000\n: following the log\n\n" + state_frame(shown)
        quiet = 0.0
        async for batch in _batches(queue, reader, check):
            if gw.stopping:
                return  # why: the server is stopping; the client reconnects to whoever serves next
            if (state := state_of(gw, health)) != shown:
                shown = state
                yield state_frame(state)
            quiet = 0.0 if batch else quiet + check
            if quiet >= keepalive:
                quiet = 0.0
                yield b": keepalive\n\n"
            for stored in batch or ():
                if schedule is None or getattr(stored.event, "name", None) == schedule:
                    yield frame(stored)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


@router.get(
    "/events",
    summary="Server-sent events: fires, runs, schedule changes, in log order",
    response_class=StreamingResponse,
)
async def events(
    gw: Annotated[Gateway, Depends(gateway)],
    _: Annotated[User, Depends(caller)],
    schedule: str | None = None,
    last_event_id: Annotated[str | None, Header(description="Continue after this sequence")] = None,
    after: Annotated[
        str | None, Query(description="Continue after this sequence (0: from the start)")
    ] = None,
) -> StreamingResponse:
    if schedule:
        await gw.ask("schedule", {"name": schedule, "fires": 0})  # why: unknown → 404, not silence
    start = _start(last_event_id, after) or await gw.log_end() + 1
    return StreamingResponse(
        stream(gw, schedule, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _start(last_event_id: str | None, after: str | None) -> int | None:
    """The sequence to start at: after Last-Event-ID (or ?after=SEQ), else None (from now);
    400 naming the one given for anything but a log sequence (0: from the log's start)."""
    given, raw = ("Last-Event-ID", last_event_id) if last_event_id is not None else ("after", after)
    if raw is None:
        return None
    # why: int() would take "-5" (and "+5", " 5 "); a negative one replayed the whole log
    if not raw.isdigit() or not raw.isascii():
        raise Problem(400, f"{given} {raw!r}: expected a log sequence number (0 or more)")
    return int(raw) + 1
