"""Raw message sinks on a nats-py client: bypass its per-message header parsing and Msg objects.

why: replaying the log is bound by nats-py's message pipeline, not by the server: parsing the
stored headers into a dict, building a Msg and queueing it costs ~25 us per message, several
times the msgspec decode. A reader only needs (subject, reply, payload) and, for status
messages, the status code. This hooks `Client._process_msg` (nats-py 2.x) for the sids that
register a sink and leaves every other subscription untouched; if the hook point is missing
the reader falls back to an ordinary subscription with the same sink.

The client's protocol parser is also given a fast path for whole MSG/HMSG frames (`_FastParser`):
nats-py matches two regular expressions and awaits a coroutine per message, about a quarter of
a replay's CPU (measured with cProfile); everything else (PING, INFO, -ERR, a frame cut by the
read size) still goes through nats-py's own parser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ProtocolError
from nats.protocol.parser import AWAITING_CONTROL_LINE, Parser

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
    parser = getattr(nc, "_ps", None)
    if type(parser) is Parser:
        parser.__class__ = _FastParser  # why: keeps its state (a frame may be half read)
    return sinks


class _FastParser(Parser):
    """nats-py's parser with a fast path: complete MSG/HMSG frames at the head of the buffer
    are cut out with find/split and handed to a sink directly (or to _process_msg)."""

    async def parse(self, data: bytes = b"") -> None:
        """Consume whole frames quickly; leave the rest to nats-py's parser."""
        if self.state != AWAITING_CONTROL_LINE:
            await super().parse(data)
            return
        buf = self.buf
        buf.extend(data)
        pos = await self._frames(buf)
        if pos:
            del buf[:pos]
        if buf and not buf.startswith((b"MSG ", b"HMSG ")):
            await super().parse()  # why: PING, INFO, -ERR ...: rare, nats-py knows them

    async def _frames(self, buf: bytearray) -> int:
        """Dispatch every complete MSG/HMSG frame from the start; the bytes consumed."""
        sinks: dict[int, Sink] = getattr(self.nc, _ATTR)
        process = self.nc._process_msg
        pos, end = 0, len(buf)
        with memoryview(buf) as view:
            while buf.startswith(b"MSG ", pos) or buf.startswith(b"HMSG ", pos):
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                try:
                    op, subject, sid_text, *rest = bytes(view[pos:eol]).split()
                    hsize = int(rest[-2]) if op == b"HMSG" else 0
                    size, sid = int(rest[-1]), int(sid_text)
                except (ValueError, IndexError) as err:
                    raise ProtocolError("nats: malformed MSG") from err
                reply = rest[0] if len(rest) == (3 if op == b"HMSG" else 2) else b""
                start = eol + 2
                if start + size + 2 > end:
                    break  # why: the rest of this frame has not arrived yet
                headers = bytes(view[start : start + hsize]) if hsize else None
                payload = bytes(view[start + hsize : start + size])
                pos = start + size + 2
                sink = sinks.get(sid)
                if sink is not None:
                    sink(subject, reply, payload, headers)
                else:
                    await process(sid, subject, reply, payload, headers)
        return pos


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
