"""A pipelined JetStream publisher: one reply inbox, a bounded in-flight window, ack futures.

why: nats-py's `publish_async` never resolves when the server answers with an error
(JETSTREAM_NOTES.md), and `await js.publish` per message is ~13x slower than pipelining.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TypeVar, cast

from nats.aio.client import Client
from nats.js.errors import NotFoundError

from jetcron.log import stuck
from jetcron.log.acks import PubAck, Reply, parse_ack
from jetcron.log.errors import AppendFailed, NoLeader, stream_of
from jetcron.log.fastsub import release, status_of, subscribe_raw

log = logging.getLogger(__name__)
Item = tuple[str, bytes, dict[str, str]]
"""(subject, payload, headers) of one message."""
T = TypeVar("T")


class Publisher:
    """Publishes to JetStream with pipelined acks; safe to share between tasks."""

    def __init__(self, nc: Client, *, window: int = 8192, ack_timeout: float = 5.0) -> None:
        self._nc = nc
        self._window = Window(window)
        self._ack_timeout = ack_timeout
        self._pending: dict[str, Callable[[Reply], None]] = {}
        """token -> what to do with its ack (resolve a future, or fill a slot of a batch)."""
        self._counter = itertools.count()
        self._prefix = ""
        self._sub: object | None = None

    @property
    def window(self) -> int:
        """How many publishes may await their ack at once."""
        return self._window.size

    async def start(self) -> Publisher:
        """Subscribe the shared reply inbox."""
        self._prefix = self._nc.new_inbox() + "."
        self._sub = await subscribe_raw(self._nc, self._prefix + "*", self._on_reply)
        return self

    async def close(self) -> None:
        """Unsubscribe (best effort: the connection may be gone); pending publishes fail."""
        sub, self._sub = self._sub, None
        self._pending.clear()
        if sub is not None:
            release(self._nc, sub)
        if sub is not None and not self._nc.is_closed:
            try:
                await sub.unsubscribe()  # type: ignore[attr-defined]
            except Exception as err:  # noqa: BLE001 - closing must not hide why we are closing
                log.debug("publisher: unsubscribe on close failed: %s", err)

    def _on_reply(self, subject: bytes, _: bytes, data: bytes, headers: bytes | None) -> None:
        settle = self._pending.pop(subject[len(self._prefix) :].decode(), None)
        if settle is not None:
            settle((data, status_of(headers)))

    async def request(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> PubAck:
        """Publish once and wait for the ack; TimeoutError if none arrives."""
        await self._window.acquire(1)
        try:
            token = str(next(self._counter))
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[Reply] = loop.create_future()
            self._pending[token] = partial(_resolve, fut)
            # why: asyncio.wait_for makes a task per call; a timer handle is ~5x cheaper.
            timer = loop.call_later(self._ack_timeout, _expire, fut)
            reconnects = self._nc.stats["reconnects"]
            try:
                await self._nc.publish(
                    subject, data, reply=self._prefix + token, headers=dict(headers or {})
                )
                reply = await fut
            except TimeoutError:
                stuck.unacked(self._nc, subject, reconnects, time.time() - self._ack_timeout)
                raise
            finally:
                timer.cancel()
                self._pending.pop(token, None)
        finally:
            self._window.release()
        return parse_ack(subject, reply, headers)

    async def publish(
        self,
        subject: str,
        data: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        attempts: int = 5,
    ) -> PubAck:
        """Publish with retries on a missing ack; pass a Nats-Msg-Id header to make retries safe."""
        for attempt in range(1, attempts + 1):
            try:
                return await self.request(subject, data, headers)
            except (TimeoutError, AppendFailed) as err:
                if attempt == attempts or not _retryable(err) or stuck.stuck(subject):
                    if isinstance(err, NoLeader) and not await self._exists(subject):
                        err = NoLeader(subject, err.status, missing=True)
                    raise AppendFailed(f"publish to {subject} failed: {err}") from err
                await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
        raise AssertionError("unreachable")

    async def _exists(self, subject: str) -> bool:
        """Whether the stream of `subject` exists (True when it cannot tell: no leader to ask)."""
        try:
            await self._nc.jetstream().stream_info(stream_of(subject))
        except NotFoundError:
            return False
        except Exception:  # noqa: BLE001 - unanswered: an election, not a missing stream
            return True
        return True

    async def publish_many(
        self,
        items: Sequence[T],
        framed: Sequence[tuple[str, bytes]] | None = None,
        prepare: Callable[[Sequence[T]], list[Item]] | None = None,
    ) -> list[PubAck | Exception]:
        """Publish many messages pipelined; acks settle in the reply callback, a lost one is retried.

        Items are (subject, payload, headers), or whatever `prepare` turns into those.
        why: the messages go out as ready-made protocol frames, many per write, not through
        nats-py's publish (subject checks, header regex, a flush future per message): that path
        cost more client CPU per message than the whole rest of an append. `framed` are the
        items' frames made ahead of time by `frames` (the ticker's planned burst).
        """
        batch = _Batch(len(items), self._window, asyncio.get_running_loop().create_future())
        prepared: list[Item] = []
        tokens: list[str] = []
        chunk = max(1, self._window.size // 8)
        i = 0
        while i < len(items):
            # why: as many slots as are free at once (at most a chunk), not one await per message;
            # once the window is full, wait for a good part of it to come back instead of
            # sending one frame per ack (measured: 3x slower)
            granted = await self._window.acquire(min(len(items) - i, chunk), chunk)
            part = items[i : i + granted]
            # why: encode and frame a chunk at a time, so the server stores the first chunk
            # while we make the next (all up front left the server idle, then the client)
            ready = prepare(part) if prepare is not None else cast(list[Item], part)
            prepared += ready
            made = framed[i : i + granted] if framed is not None else self.frames(ready)
            for j, (token, _) in enumerate(made, i):
                self._pending[token] = partial(batch.settle, j)
                tokens.append(token)
            await self._write([frame for _, frame in made])
            i += granted
            if i < len(items):
                # why: nats-py's flusher writes what we queued only when we yield; without this
                # the whole batch was framed before its first byte went out
                await asyncio.sleep(0)
        return await self._collect(prepared, tokens, batch)

    def stage(self, items: Sequence[Item]) -> Staged:
        """Frame items now, to send later with publish_staged (a burst planned before it is due)."""
        made = self.frames(items)
        frames = [frame for _, frame in made]
        batch = _Batch(len(items), self._window, asyncio.get_running_loop().create_future())
        settlers: list[Callable[[Reply | None], None]] = [
            partial(batch.settle, j) for j in range(len(items))
        ]
        return Staged(list(items), [t for t, _ in made], frames, b"".join(frames), batch, settlers)

    async def publish_staged(self, staged: Staged) -> list[PubAck | Exception]:
        """publish_many of staged items: one write of the frames made ahead, acks as there.

        why: what is left to do once a planned burst is due is to hand its bytes to the socket;
        registering 10k replies and joining 10k frames then took ~10 ms before the first byte.
        """
        n = len(staged.items)
        if n == 0:
            return []
        if staged.sent or n > self._window.size:
            # why: a staged burst goes once; one larger than the window goes chunk by chunk
            framed = list(zip(staged.tokens, staged.frames, strict=True))
            return await self.publish_many(staged.items, framed)
        staged.sent = True
        await self._window.acquire(n, n)
        self._pending.update(zip(staged.tokens, staged.settlers, strict=True))
        await self._write(staged.frames, staged.joined)
        return await self._collect(staged.items, staged.tokens, staged.batch)

    async def _collect(
        self, items: Sequence[Item], tokens: list[str], batch: _Batch
    ) -> list[PubAck | Exception]:
        """Wait for a batch's acks; a missing one is retried (same Nats-Msg-Id); results in order."""
        if items:
            try:
                # why not wait_for: see connection.Probe.once (a cancel as the acks land is lost)
                async with asyncio.timeout(self._ack_timeout):
                    await asyncio.shield(batch.done)
            except TimeoutError:
                for i, token in enumerate(tokens):
                    if self._pending.pop(token, None) is not None:
                        batch.settle(i, None)
        out: list[PubAck | Exception] = []
        for item, reply in zip(items, batch.replies, strict=True):
            out.append(
                _parsed(item, reply) if reply is not None else await self._settle(item, None)
            )
        return out

    def frames(self, items: Sequence[tuple[str, bytes, dict[str, str]]]) -> list[tuple[str, bytes]]:
        """(reply token, HPUB frame) of each item, for publish_many now or later."""
        out = []
        for subject, data, headers in items:
            token = str(next(self._counter))
            out.append((token, hpub(subject, self._prefix + token, headers, data)))
        return out

    async def _write(self, frames: list[bytes], joined: bytes | None = None) -> None:
        """Hand ready-made frames (`joined`: already in one piece) to the connection in one
        piece, or one by one if we can't."""
        nc = self._nc
        send = getattr(nc, "_send_command", None)
        if send is None or not nc.is_connected or nc.is_draining_pubs:
            # why: nats-py's own publish knows what to do while reconnecting or closing
            for frame in frames:
                await _republish(nc, frame)
            return
        await send(b"".join(frames) if joined is None else joined)
        await nc._flush_pending()

    async def _settle(
        self, item: tuple[str, bytes, dict[str, str]], reply: Reply | None
    ) -> PubAck | Exception:
        subject, data, headers = item
        try:
            if reply is None:
                return await self.publish(subject, data, headers)  # why: same Nats-Msg-Id: safe
            return parse_ack(subject, reply, headers)
        except Exception as err:  # noqa: BLE001 - reported per item to the caller
            return err

    async def send(self, subject: str, data: bytes, headers: Mapping[str, str]) -> None:
        """Fire-and-forget publish (the middle messages of an atomic batch)."""
        await self._nc.publish(subject, data, headers=dict(headers))


def hpub(subject: str, reply: str, headers: Mapping[str, str], data: bytes) -> bytes:
    """One HPUB protocol frame (what nats-py's publish sends for these arguments)."""
    head = b"NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
    size = len(head) + 2
    return b"HPUB %s %s %d %d\r\n%s\r\n%s\r\n" % (
        subject.encode(), reply.encode(), size, size + len(data), head, data,
    )  # fmt: skip


async def _republish(nc: Client, frame: bytes) -> None:
    """Send one frame made by `hpub` through nats-py's publish (its checks and buffering)."""
    line, rest = frame.split(b"\r\n", 1)
    _, subject, reply, size, _total = line.split(b" ")
    head, data = rest[: int(size)], rest[int(size) : -2]
    headers = dict(h.split(": ", 1) for h in head.decode().split("\r\n")[1:] if h)
    await nc.publish(subject.decode(), data, reply=reply.decode(), headers=headers)


def _parsed(item: tuple[str, bytes, dict[str, str]], reply: Reply) -> PubAck | Exception:
    try:
        return parse_ack(item[0], reply, item[2])
    except Exception as err:  # noqa: BLE001 - reported per item to the caller
        return err


class Window:
    """How many publishes may await their ack at once (unbounded pipelining makes JetStream
    drop messages); unlike a semaphore, one call takes many slots."""

    def __init__(self, size: int) -> None:
        self.size = self.free = size
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def acquire(self, wanted: int, at_least: int = 1) -> int:
        """Wait for `at_least` free slots (fewer if fewer are wanted); take up to `wanted`;
        returns how many were taken."""
        need = max(1, min(wanted, at_least))
        while self.free < need or self._waiters:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append((need, waiter))
            try:
                await waiter
            except asyncio.CancelledError:
                self._wake()  # why: slots meant for us must not be lost
                raise
            if self.free >= need:
                break
        taken = min(wanted, self.free)
        self.free -= taken
        self._wake()
        return taken

    def release(self, n: int = 1) -> None:
        """Give slots back; wake the first waiter once there are as many as it needs."""
        self.free += n
        self._wake()

    def _wake(self) -> None:
        # why: one wake-up per waiter when its slots are there, not one per ack
        while self._waiters and (self._waiters[0][1].done() or self.free >= self._waiters[0][0]):
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class Staged:
    """Messages framed ahead of time by Publisher.stage; sent once by publish_staged."""

    __slots__ = ("items", "tokens", "frames", "joined", "batch", "settlers", "sent")

    def __init__(
        self,
        items: list[Item],
        tokens: list[str],
        frames: list[bytes],
        joined: bytes,
        batch: _Batch,
        settlers: list[Callable[[Reply | None], None]],
    ) -> None:
        self.items, self.tokens, self.frames, self.joined = items, tokens, frames, joined
        self.batch, self.settlers = batch, settlers
        """Where each reply goes (made ahead too: a partial per message is ~1 us)."""
        self.sent = False


class _Batch:
    """Acks of one publish_many call, counted down in the reply callback (no future per message)."""

    def __init__(self, n: int, window: Window, done: asyncio.Future[None]) -> None:
        self.replies: list[Reply | None] = [None] * n
        self.left, self.window, self.done = n, window, done

    def settle(self, index: int, reply: Reply | None) -> None:
        self.replies[index] = reply
        self.window.release()
        self.left -= 1
        if self.left == 0 and not self.done.done():
            self.done.set_result(None)


def _resolve(fut: asyncio.Future[Reply], reply: Reply) -> None:
    if not fut.done():
        fut.set_result(reply)


def _expire(fut: asyncio.Future[Reply]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError("no ack from JetStream"))


def _retryable(err: Exception) -> bool:
    # why: a missing ack or "no responders" during a cluster leader change is transient.
    return isinstance(err, TimeoutError) or "503" in str(err) or "no responders" in str(err)
