"""publish_many's ready-made frames against a real nats-server: the same bytes nats-py sends,
acks in order, dedupe by Nats-Msg-Id, a window smaller than the batch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from nats.aio.client import Client

from jetcron.log.publisher import Publisher, Window, _republish, hpub
from jetcron.log.stream import EventLog, stream_config

HEADERS = {"Nats-Msg-Id": "m-1", "Nats-TTL": "30s"}


def capture(nc: Client) -> list[bytes]:
    """Record the protocol commands nats-py queues from now on."""
    sent: list[bytes] = []
    original = nc._send_command

    async def send(cmd: bytes, priority: bool = False) -> None:
        sent.append(bytes(cmd))
        await original(cmd, priority)

    nc._send_command = send  # type: ignore[method-assign]
    return sent


async def test_a_frame_is_what_nats_py_sends_and_goes_back_through_it(nc: Client) -> None:
    sent = capture(nc)
    await nc.publish("jetcron.run.a.b", b'{"x":1}', reply="_INBOX.r.1", headers=HEADERS)
    frame = hpub("jetcron.run.a.b", "_INBOX.r.1", HEADERS, b'{"x":1}')
    await _republish(nc, frame)

    assert sent == [frame, frame]


async def test_publish_many_stores_in_order_and_dedupes_through_a_small_window(
    nc: Client,
) -> None:
    await nc.jetstream().add_stream(stream_config())
    publisher = await Publisher(nc, window=4).start()
    items = [(f"jetcron.run.s.r{i}", b'{"i":%d}' % i, {"Nats-Msg-Id": f"m{i}"}) for i in range(10)]
    try:
        first = await publisher.publish_many(items)
        again = await publisher.publish_many(items[:3])
    finally:
        await publisher.close()

    assert [a.seq for a in first] == list(range(1, 11))  # type: ignore[union-attr]
    assert [(a.seq, a.duplicate) for a in again] == [(1, True), (2, True), (3, True)]  # type: ignore[union-attr]


async def test_publish_many_prepares_chunk_by_chunk_while_earlier_chunks_are_acked(
    nc: Client,
) -> None:
    await nc.jetstream().add_stream(stream_config())
    publisher = await Publisher(nc, window=16).start()
    chunks: list[int] = []

    def prepare(part: Sequence[int]) -> list[tuple[str, bytes, dict[str, str]]]:
        chunks.append(len(part))
        return [(f"jetcron.run.s.r{i}", b'{"i":%d}' % i, {"Nats-Msg-Id": f"m{i}"}) for i in part]

    try:
        acks = await publisher.publish_many(range(50), prepare=prepare)
    finally:
        await publisher.close()

    assert [a.seq for a in acks] == list(range(1, 51))  # type: ignore[union-attr]
    assert sum(chunks) == 50 and max(chunks) == 2  # why: a chunk is an eighth of the window


async def test_a_full_window_refills_in_chunks_and_a_cancelled_wait_loses_no_slot() -> None:
    window = Window(8)
    assert await window.acquire(20) == 8
    waiter = asyncio.ensure_future(window.acquire(20, at_least=4))
    for _ in range(3):
        window.release()
        await asyncio.sleep(0)
    assert not waiter.done(), "3 free slots are not the 4 it waits for"
    window.release()
    assert await waiter == 4

    blocked = asyncio.ensure_future(window.acquire(1))
    await asyncio.sleep(0)
    blocked.cancel()
    window.release(2)
    assert await window.acquire(5) == 2


async def test_a_staged_batch_goes_out_once_in_one_write_and_again_only_as_duplicates(
    nc: Client,
) -> None:
    await nc.jetstream().add_stream(stream_config())
    publisher = await Publisher(nc, window=8).start()
    items = [(f"jetcron.run.s.r{i}", b'{"i":%d}' % i, {"Nats-Msg-Id": f"m{i}"}) for i in range(6)]
    try:
        staged = publisher.stage(items)
        sent = capture(nc)
        first = await publisher.publish_staged(staged)
        again = await publisher.publish_staged(staged)  # why: a second send is only a retry
        big = await publisher.publish_staged(publisher.stage(items + items[:4]))  # > window
    finally:
        await publisher.close()

    assert sent[0] == b"".join(staged.frames), "the first send is one write of the frames"
    assert [a.seq for a in first] == list(range(1, 7))  # type: ignore[union-attr]
    assert [(a.seq, a.duplicate) for a in again] == [(i, True) for i in range(1, 7)]  # type: ignore[union-attr]
    assert [a.seq for a in big] == [*range(1, 7), 1, 2, 3, 4]  # type: ignore[union-attr]


async def test_the_log_stages_no_more_than_one_window(nc: Client) -> None:
    log = EventLog(nc, window=4)
    items = [(f"jetcron.run.s.r{i}", b"{}", {"Nats-Msg-Id": f"m{i}"}) for i in range(5)]
    assert log.stage(items) is None, "more than the window: framed when sent"
    staged = log.stage(items[:4])
    assert staged is not None and len(staged.frames) == 4
