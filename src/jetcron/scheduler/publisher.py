"""A pipelined JetStream publisher: one reply inbox, a bounded in-flight window, ack futures.

why: nats-py's `publish_async` never resolves when the server answers with an error
(JETSTREAM_NOTES.md), and `await js.publish` per message is ~13x slower than pipelining.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence

import msgspec
from nats.aio.client import Client

from jetcron.scheduler.errors import AppendFailed, ConcurrencyConflict
from jetcron.scheduler.fastsub import status_of, subscribe_raw

WRONG_LAST_SEQUENCE = 10071


class ApiError(msgspec.Struct, frozen=True):
    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct, frozen=True):
    """The stream's answer to one publish (or to the commit of an atomic batch)."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    count: int = 1
    error: ApiError | None = None


_ack_decoder = msgspec.json.Decoder(PubAck)
Reply = tuple[bytes, str]
"""(payload, status code) of an ack."""


class Publisher:
    """Publishes to JetStream with pipelined acks; safe to share between tasks."""

    def __init__(self, nc: Client, *, window: int = 8192, ack_timeout: float = 5.0) -> None:
        self._nc = nc
        self._window = asyncio.Semaphore(window)
        self._ack_timeout = ack_timeout
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._counter = itertools.count()
        self._prefix = ""
        self._sub: object | None = None

    async def start(self) -> Publisher:
        """Subscribe the shared reply inbox."""
        self._prefix = self._nc.new_inbox() + "."
        self._sub = await subscribe_raw(self._nc, self._prefix + "*", self._on_reply)
        return self

    async def close(self) -> None:
        """Unsubscribe; pending publishes fail."""
        if self._sub is not None:
            await self._sub.unsubscribe()  # type: ignore[attr-defined]
            self._sub = None
        for fut in self._pending.values():
            fut.cancel()

    def _on_reply(self, subject: bytes, _: bytes, data: bytes, headers: bytes | None) -> None:
        fut = self._pending.pop(subject[len(self._prefix) :].decode(), None)
        if fut is not None and not fut.done():
            fut.set_result((data, status_of(headers)))

    async def request(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> PubAck:
        """Publish once and wait for the ack; TimeoutError if none arrives."""
        async with self._window:
            token = str(next(self._counter))
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[Reply] = loop.create_future()
            self._pending[token] = fut
            # why: asyncio.wait_for makes a task per call; a timer handle is ~5x cheaper.
            timer = loop.call_later(self._ack_timeout, _expire, fut)
            try:
                await self._nc.publish(
                    subject, data, reply=self._prefix + token, headers=dict(headers or {})
                )
                reply = await fut
            finally:
                timer.cancel()
                self._pending.pop(token, None)
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
                if attempt == attempts or not _retryable(err):
                    raise AppendFailed(f"publish to {subject} failed: {err}") from err
                await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
        raise AssertionError("unreachable")

    async def publish_many(
        self, items: Sequence[tuple[str, bytes, dict[str, str]]]
    ) -> list[PubAck | Exception]:
        """Publish many messages pipelined (no task per message); a failed one is retried alone."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Reply]] = []
        for subject, data, headers in items:
            await self._window.acquire()
            token = str(next(self._counter))
            fut: asyncio.Future[Reply] = loop.create_future()
            fut.add_done_callback(self._release)
            self._pending[token] = fut
            await self._nc.publish(subject, data, reply=self._prefix + token, headers=headers)
            futures.append(fut)
        timer = loop.call_later(self._ack_timeout, _expire_all, futures)
        try:
            replies = await asyncio.gather(*futures, return_exceptions=True)
        finally:
            timer.cancel()
        return [await self._settle(item, reply) for item, reply in zip(items, replies, strict=True)]

    def _release(self, _: asyncio.Future[Reply]) -> None:
        self._window.release()

    async def _settle(
        self, item: tuple[str, bytes, dict[str, str]], reply: Reply | BaseException
    ) -> PubAck | Exception:
        subject, data, headers = item
        try:
            if isinstance(reply, BaseException):
                return await self.publish(subject, data, headers)  # why: same Nats-Msg-Id: safe
            return parse_ack(subject, reply, headers)
        except Exception as err:  # noqa: BLE001 - reported per item to the caller
            return err

    async def send(self, subject: str, data: bytes, headers: Mapping[str, str]) -> None:
        """Fire-and-forget publish (the middle messages of an atomic batch)."""
        await self._nc.publish(subject, data, headers=dict(headers))


def _expire(fut: asyncio.Future[Reply]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError("no ack from JetStream"))


def _expire_all(futures: list[asyncio.Future[Reply]]) -> None:
    for fut in futures:
        _expire(fut)


def _retryable(err: Exception) -> bool:
    # why: a missing ack or "no responders" during a cluster leader change is transient.
    return isinstance(err, TimeoutError) or "503" in str(err) or "no responders" in str(err)


def parse_ack(subject: str, reply: Reply, headers: Mapping[str, str] | None) -> PubAck:
    """PubAck from a reply, mapping JetStream errors to ours."""
    data, status = reply
    if status and not data:
        raise AppendFailed(f"{subject}: no responders ({status}); is the JETCRON stream there?")
    ack = _ack_decoder.decode(data)
    if ack.error is None:
        return ack
    if ack.error.err_code == WRONG_LAST_SEQUENCE:
        expected = int((headers or {}).get("Nats-Expected-Last-Subject-Sequence", "0"))
        raise ConcurrencyConflict(subject, expected, ack.error.description)
    raise AppendFailed(f"{subject}: {ack.error.description} (err_code {ack.error.err_code})")
