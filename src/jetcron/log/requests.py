"""Core NATS request/reply with jetcron's errors: who answered, what a micro error or a stale-view header says."""

from __future__ import annotations

import zlib

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from jetcron import subjects
from jetcron.errors import (
    InvalidInput,
    NatsUnreachable,
    NoAnswerInTime,
    NotPermitted,
    ServiceUnavailable,
)
from jetcron.log import refusals


def refuse_unless_connected(nc: Client, what: str) -> None:
    """NatsUnreachable ("nothing was sent") unless the client is connected now: the one rule
    of every request and query, before anything is handed to nats-py.

    why not only `is_reconnecting`: between its reconnect attempts nats-py says CONNECTING
    while it waits for a hung server's INFO (its connect timeout, 2 s), and a request made
    then is buffered, waits out its whole timeout, and is flushed to the server if it comes
    back: during a 40 s SIGSTOP of nats-server the gateway answered 3 requests after 5 s with
    "it was sent … it may still be applied", none of which had left it (newcomer21c #5)."""
    if not nc.is_connected:
        raise NatsUnreachable(what)


async def request(nc: Client, subject: str, payload: bytes, what: str, timeout: float) -> Msg:
    """Request/reply; ServiceUnavailable when nobody answers (in time), NotPermitted when the
    server's permissions refused the request."""
    refuse_unless_connected(nc, what)
    if len(payload) > nc.max_payload:
        # why: nats-py raised MaxPayloadError, a traceback; the validator's limits (a definition,
        # a reason) keep every command far below this, so this is the last net
        raise InvalidInput(
            f"{what} is too large to send ({len(payload)} bytes; NATS carries at most "
            f"{nc.max_payload} in one message)"
        )
    mark = refusals.of(nc).count
    try:
        return await nc.request(subject, payload, timeout=timeout)
    except NoRespondersError as err:
        raise ServiceUnavailable(what) from err
    except NatsTimeout as err:
        if refusals.refused(nc, subject, mark) is not None:
            raise NotPermitted(what, subject) from err
        raise NoAnswerInTime(what, timeout, command=subject.startswith(subjects.COMMANDS)) from err


def service_error(msg: Msg) -> tuple[str, str] | None:
    """(code, message) of a nats micro error reply, or None for a normal reply."""
    headers = msg.headers or {}
    # why: nats micro's error convention, so other NATS tooling reads our errors too
    if "Nats-Service-Error-Code" not in headers:
        return None
    return headers["Nats-Service-Error-Code"], headers.get("Nats-Service-Error", "")


STALE_SINCE = "Jetcron-Stale-Since"
STALE_REASON = "Jetcron-Stale-Reason"


def stale_headers(since: str, reason: str) -> dict[str, str]:
    """Reply headers saying the answer comes from a view that is stale since `since` (ISO-8601)."""
    return {STALE_SINCE: since, STALE_REASON: reason}


def stale_of(msg: Msg) -> tuple[str, str] | None:
    """(since, reason) if a query reply says its view is stale, else None."""
    headers = msg.headers or {}
    if STALE_SINCE not in headers:
        return None
    return headers[STALE_SINCE], headers.get(STALE_REASON, "")


ENCODING = "Jetcron-Encoding"
PACK_ABOVE = 256 * 1024
"""Answers larger than this are compressed: a big fleet's `stats` passes NATS's 1 MB limit."""


def packed(data: bytes, max_payload: int) -> tuple[bytes, dict[str, str]]:
    """A query answer as sent: as it is, or zlib-compressed with a header saying so when it is
    large; ValueError if even that does not fit in one NATS message."""
    if len(data) <= PACK_ABOVE:
        return data, {}
    small = zlib.compress(data, 1)
    if len(small) > max_payload:
        raise ValueError(
            f"the answer is {len(data) // 1024} KiB ({len(small) // 1024} KiB compressed), more "
            f"than NATS carries in one message ({max_payload // 1024} KiB); ask for less"
        )
    return small, {ENCODING: "zlib"}


def payload_of(msg: Msg) -> bytes:
    """A query reply's JSON (decompressed if the service packed it)."""
    if msg.headers and msg.headers.get(ENCODING) == "zlib":
        return zlib.decompress(msg.data)
    return msg.data
