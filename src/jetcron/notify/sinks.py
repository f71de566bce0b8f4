"""Sending one message to one sink: a webhook (urllib in a thread), a local command, a NATS subject."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.request

from nats.aio.client import Client

from jetcron.domain.definition import SECRET_REF
from jetcron.domain.notifications import Notification
from jetcron.log.connection import round_trip
from jetcron.log.refusals import of, refused
from jetcron.log.secrets import get_hook_secret
from jetcron.notify import rules


class SendFailed(Exception):
    """The sink did not take the message (the text says why); the caller retries later."""


async def send(nc: Client, n: Notification, body: bytes, delivery: str, timestamp: int) -> None:
    """Deliver `body` to the sink of `n`, or raise SendFailed."""
    sink = n.sink
    if sink.webhook:
        headers = rules.headers(body, timestamp, delivery, await _secret(nc, sink.secret))
        await asyncio.to_thread(_post, sink.webhook, body, headers, sink.timeout_s)
    elif sink.command:
        await _run(sink.command, body, sink.timeout_s)
    elif sink.subject:
        await _publish(nc, sink.subject, body, delivery, sink.timeout_s)


async def _secret(nc: Client, secret: str) -> str:
    """The signing key: `kv:<key>` read from the webhook secrets bucket; a plain value (logs
    written before secrets left the log) as it is."""
    if not secret.startswith(SECRET_REF):
        return secret
    key = secret.removeprefix(SECRET_REF)
    try:
        value = await get_hook_secret(nc, key)
    except Exception as err:  # noqa: BLE001 - an unreadable secret is a failed attempt, retried
        raise SendFailed(f"cannot read the webhook secret {secret}: {err}") from err
    if value is None:
        # why: never send unsigned what should be signed: the receiver would accept a forgery
        raise SendFailed(f"the webhook secret {secret} is missing from the secrets bucket")
    return value


async def _publish(nc: Client, subject: str, body: bytes, delivery: str, timeout: float) -> None:
    mark = of(nc).count
    try:
        await nc.publish(subject, body, headers={rules.DELIVERY_HEADER: delivery})
        # why round_trip, not nc.flush(timeout): a flush that times out (NATS frozen) ends the
        # service connection's read loop when its PONG comes late (log/connection.Probe)
        await round_trip(nc, max(1, int(timeout)))
        # why: nats-py writes flush's PING ahead of publishes still in its buffer, so the
        # first round trip does not prove the server has judged this one; the second does.
        await round_trip(nc, max(1, int(timeout)))
    except Exception as err:
        raise SendFailed(f"publish to {subject}: {str(err) or type(err).__name__}") from err
    # why: under auth a publish the scheduler role may not make is dropped with only an
    # asynchronous error; without this check the ledger would record a delivery nobody got.
    if refused(nc, subject, mark) is not None:
        raise SendFailed(
            f"publish to {subject}: the scheduler's NATS user may not (permissions violation)"
        )


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only, validated
            response.read()
    except urllib.error.HTTPError as err:
        raise SendFailed(f"HTTP {err.code} from {url}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise SendFailed(f"cannot POST to {url}: {reason}") from None


async def _run(argv: list[str], body: bytes, timeout: float) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as err:
        raise SendFailed(f"cannot start {argv[0]}: {err.strerror or err}") from None
    try:
        async with asyncio.timeout(timeout):  # why: not wait_for (log/follow.set_within)
            _, stderr = await proc.communicate(body)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise SendFailed(f"{argv[0]} did not finish within {timeout:g}s") from None
    if proc.returncode != 0:
        last = (stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise SendFailed(f"{argv[0]} exited with code {proc.returncode} {last[0]}".strip())
