"""The fast path of the protocol parser hands over exactly what nats-py's own parser does, for
any way the bytes are cut into reads (frames split mid-line and mid-payload, PINGs between)."""

from __future__ import annotations

import random

import pytest
from nats.errors import ProtocolError
from nats.protocol.parser import Parser

from jetcron.log.fastsub import _ATTR, _QUEUES, FrameQueue, _FastParser

SINK_SID = 7


def stream(n: int) -> bytes:
    frames = []
    for i in range(n):
        data = b'{"i":%d,"pad":"%s"}' % (i, b"x" * (i % 50))
        if i % 3 == 0:
            head = (
                b"NATS/1.0 100 Idle Heartbeat\r\n\r\n"
                if i % 9 == 0
                else b"NATS/1.0\r\nA: b\r\n\r\n"
            )
            frames.append(b"HMSG s.%d %d $JS.ACK.S.c.1.%d.%d.17.0 %d %d\r\n%s%s\r\n" % (
                i, SINK_SID if i % 2 else 8, i, i, len(head), len(head) + len(data), head, data))  # fmt: skip
        else:
            reply = b" r.%d" % i if i % 4 else b""
            frames.append(b"MSG s.%d %d%s %d\r\n%s\r\n" % (i, SINK_SID if i % 2 else 8, reply, len(data), data))  # fmt: skip
        if i % 17 == 0:
            frames.append(b"PING\r\n")
    return b"".join(frames)


class Recorder:
    """Stands in for the client's callbacks: records what the parser hands over, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[object, ...]] = []
        setattr(self, _ATTR, {SINK_SID: self.sink})

    def sink(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        self.seen.append((SINK_SID, subject, reply, data, headers))

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:  # fmt: skip
        self.seen.append((sid, bytes(subject), bytes(reply), data, headers))

    async def _process_ping(self) -> None:
        self.seen.append(("ping",))


async def feed(parser: Parser, data: bytes, rng: random.Random) -> None:
    i = 0
    while i < len(data):
        step = rng.choice([1, 7, 64, 500, 4096, 32768])
        await parser.parse(data[i : i + step])
        i += step


@pytest.mark.parametrize("seed", range(5))
async def test_same_messages_in_the_same_order_however_the_reads_fall(seed: int) -> None:
    data = stream(300)
    plain, fast = Recorder(), Recorder()
    await feed(Parser(plain), data, random.Random(seed))
    await feed(_FastParser(fast), data, random.Random(seed))

    assert fast.seen == plain.seen
    assert len([s for s in fast.seen if s[0] == SINK_SID]) == 150


class Queued(Recorder):
    """A recorder whose sink sid is read through a FrameQueue (the log reader's way)."""

    def __init__(self) -> None:
        super().__init__()
        self.queue = FrameQueue()
        setattr(self, _ATTR, {})
        setattr(self, _QUEUES, {b"%d" % SINK_SID: self.queue})  # why: by the sid as sent

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:  # fmt: skip
        # as the client hook does: frames nats-py's own parser took still reach the queue
        if sid == SINK_SID:
            self.queue.push((bytes(subject), bytes(reply), data, headers))
        else:
            await super()._process_msg(sid, subject, reply, data, headers)


@pytest.mark.parametrize("seed", range(3))
async def test_a_frame_queue_gets_the_same_frames_as_a_sink(seed: int) -> None:
    data = stream(300)
    plain, queued = Recorder(), Queued()
    await feed(_FastParser(plain), data, random.Random(seed))
    await feed(_FastParser(queued), data, random.Random(seed))

    frames = [(SINK_SID, *frame) for frame in queued.queue.take()]
    assert frames == [s for s in plain.seen if s[0] == SINK_SID]
    assert [s for s in queued.seen if s[0] != SINK_SID] == [
        s for s in plain.seen if s[0] != SINK_SID
    ]


async def test_a_malformed_frame_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="protocol error"):
        await _FastParser(Recorder()).parse(b"MSG s.1 x 5\r\nhello\r\n")
