"""Raw message sinks on a nats-py client: bypass its per-message header parsing and Msg objects.

why: replaying the log is bound by nats-py's message pipeline, not by the server: parsing the
stored headers into a dict, building a Msg and queueing it costs ~25 us per message, several
times the msgspec decode. A reader only needs (subject, reply, payload) and, for status
messages, the status code. This hooks `Client._process_msg` (nats-py 2.x) for the sids that
register a sink and leaves every other subscription untouched; if the hook point is missing
the reader falls back to an ordinary subscription with the same sink.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

log = logging.getLogger(__name__)

Sink = Callable[[bytes, bytes, bytes, bytes | None], None]
"""sink(subject, reply, payload, raw_headers) — called synchronously from the read loop."""

_ATTR = "_jetcron_sinks"


def _install(nc: Client) -> dict[int, Sink] | None:
    sinks: dict[int, Sink] | None = getattr(nc, _ATTR, None)
    if sinks is not None:
        return sinks
    original = getattr(nc, "_process_msg", None)
    if original is None:
        return None
    sinks = {}

    async def process_msg(
        sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        sink = sinks.get(sid)
        if sink is None:
            await original(sid, subject, reply, data, headers)
            return
        sink(subject, reply, data, headers)

    nc._process_msg = process_msg  # type: ignore[method-assign]
    setattr(nc, _ATTR, sinks)
    return sinks


async def subscribe_raw(nc: Client, subject: str, sink: Sink) -> Any:
    """Subscribe `subject` with a raw sink; returns the nats-py Subscription (unsubscribe as usual)."""
    sinks = _install(nc)

    async def fallback(msg: Msg) -> None:
        raw = None
        if msg.headers and "Status" in msg.headers:
            raw = f"NATS/1.0 {msg.headers['Status']} {msg.headers.get('Description', '')}\r\n".encode()
        sink(msg.subject.encode(), (msg.reply or "").encode(), msg.data, raw)

    sub = await nc.subscribe(subject, cb=fallback)
    if sinks is not None:
        sinks[sub._id] = sink
    return sub


def status_of(raw_headers: bytes | None) -> str:
    """The status code of a status message ('408', '404', '100', ...), or ''."""
    if raw_headers and raw_headers.startswith(b"NATS/1.0 "):
        return raw_headers[9:12].decode()
    return ""


def description_of(raw_headers: bytes | None) -> str:
    """The status description ('Request Timeout', 'Consumer Deleted', ...)."""
    if not raw_headers:
        return ""
    line = raw_headers.split(b"\r\n", 1)[0]
    return line[13:].decode(errors="replace")
