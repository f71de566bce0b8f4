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

import asyncio
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
Frame = tuple[bytes, bytes, bytes, bytes | None]
"""(subject, reply, payload, raw_headers) of one message."""


class FrameQueue:
    """Where a reader's messages pile up: the parser appends each frame to `frames` (a C-level
    list append, no Python call per message) and sets `arrived` once per read from the socket.

    why: at replay rates a Python sink call per message costs as much as parsing its frame.
    """

    __slots__ = ("frames", "push", "arrived")

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.push = self.frames.append
        self.arrived = asyncio.Event()

    def take(self) -> list[Frame]:
        """Every frame queued since the last take (the list itself stays, the parser holds it)."""
        taken = self.frames[:]
        self.frames.clear()
        self.arrived.clear()
        return taken


_ATTR = "_jetcron_sinks"
_QUEUES = "_jetcron_queues"


def _install(nc: Client) -> dict[int, Sink] | None:
    sinks: dict[int, Sink] | None = getattr(nc, _ATTR, None)
    if sinks is not None:
        return sinks
    original = getattr(nc, "_process_msg", None)
    if original is None:
        return None
    sinks = {}
    queues: dict[bytes, FrameQueue] = {}

    async def process_msg(
        sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        queue = queues.get(b"%d" % sid)
        if queue is not None:
            queue.push((subject, reply, data, headers))
            queue.arrived.set()
            return
        sink = sinks.get(sid)
        if sink is None:
            await original(sid, subject, reply, data, headers)
            return
        sink(subject, reply, data, headers)

    nc._process_msg = process_msg  # type: ignore[method-assign]
    setattr(nc, _ATTR, sinks)
    setattr(nc, _QUEUES, queues)
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
        queues: dict[bytes, FrameQueue] = getattr(self.nc, _QUEUES, _NO_QUEUES)
        try:
            pos = await self._frames(buf, queues)
        finally:
            for queue in queues.values():
                if queue.frames:
                    queue.arrived.set()
        if pos:
            del buf[:pos]
        if buf and not buf.startswith((b"MSG ", b"HMSG ")):
            await super().parse()  # why: PING, INFO, -ERR ...: rare, nats-py knows them

    async def _frames(self, buf: bytearray, queues: dict[bytes, FrameQueue]) -> int:
        """Dispatch every complete MSG/HMSG frame from the start; the bytes consumed."""
        sinks: dict[int, Sink] = getattr(self.nc, _ATTR)
        process = self.nc._process_msg
        pos, end = 0, len(buf)
        # why: written flat (one split, no star-unpacking, one startswith): it runs per message
        with memoryview(buf) as view:
            while buf.startswith(_OPS, pos):
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                parts = bytes(view[pos:eol]).split()
                try:
                    size = int(parts[-1])
                    if parts[0] == b"HMSG":
                        hsize, reply = int(parts[-2]), parts[3] if len(parts) == 6 else b""
                    else:
                        hsize, reply = 0, parts[3] if len(parts) == 5 else b""
                except (ValueError, IndexError) as err:
                    raise ProtocolError("nats: malformed MSG") from err
                start = eol + 2
                if start + size + 2 > end:
                    break  # why: the rest of this frame has not arrived yet
                headers = bytes(view[start : start + hsize]) if hsize else None
                payload = bytes(view[start + hsize : start + size])
                pos = start + size + 2
                # why: queues by the sid as sent, no int() per message (a replay's messages)
                queue = queues.get(parts[2])
                if queue is not None:
                    queue.push((parts[1], reply, payload, headers))
                    continue
                try:
                    sid = int(parts[2])
                except ValueError as err:
                    raise ProtocolError("nats: malformed MSG") from err
                sink = sinks.get(sid)
                if sink is not None:
                    sink(parts[1], reply, payload, headers)
                else:
                    await process(sid, parts[1], reply, payload, headers)
        return pos


_OPS = (b"MSG ", b"HMSG ")
_NO_QUEUES: dict[bytes, FrameQueue] = {}


async def subscribe_queue(nc: Client, subject: str, queue: FrameQueue) -> Any:
    """Subscribe `subject` with its messages piling up in `queue`; returns the Subscription."""

    def sink(subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        queue.push((subject, reply, data, headers))
        queue.arrived.set()

    sub = await subscribe_raw(nc, subject, sink)
    queues: dict[bytes, FrameQueue] | None = getattr(nc, _QUEUES, None)
    if queues is not None:
        queues[b"%d" % sub._id] = queue  # why: from here on the parser queues frames itself
    return sub


def release(nc: Client, sub: Any) -> None:
    """Forget the sink or queue of a subscription that was unsubscribed (they would pile up,
    one per read, for the life of the connection)."""
    getattr(nc, _ATTR, {}).pop(sub._id, None)
    getattr(nc, _QUEUES, {}).pop(b"%d" % sub._id, None)


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
