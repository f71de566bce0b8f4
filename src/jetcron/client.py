"""The client side of commands and queries: what the CLI (or any Python program) calls."""

from __future__ import annotations

from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from jetcron import subjects
from jetcron.errors import InfrastructureError, InvalidInput, ServiceUnavailable
from jetcron.scheduler.commands import AnyCommand
from jetcron.scheduler.errors import CommandRejected, ScheduleNotFound
from jetcron.scheduler.handler import CommandReply, reply_decoder

_encoder = msgspec.json.Encoder()


async def request(nc: Client, subject: str, payload: bytes, what: str, timeout: float) -> Msg:
    """Request/reply with jetcron's errors: ServiceUnavailable when nobody answers."""
    try:
        return await nc.request(subject, payload, timeout=timeout)
    except NoRespondersError as err:
        raise ServiceUnavailable(what) from err
    except NatsTimeout as err:
        raise ServiceUnavailable(f"{what} within {timeout:g}s") from err


async def send_command(nc: Client, command: AnyCommand, *, timeout: float = 3.0) -> CommandReply:
    """Send a command; the reply, or the rejection raised as CommandRejected/ScheduleNotFound."""
    verb = command.__struct_config__.tag
    msg = await request(
        nc, subjects.command(str(verb)), _encoder.encode(command), f"`{verb}`", timeout
    )
    reply = reply_decoder.decode(msg.data)
    if reply.ok:
        return reply
    if reply.code == "not_found":
        raise ScheduleNotFound(command.name)
    if reply.code in ("rejected", "invalid"):
        raise CommandRejected(reply.error)
    raise InfrastructureError(reply.error)


async def query(
    nc: Client, view: str, params: dict[str, Any] | None = None, *, timeout: float = 5.0
) -> Any:
    """Ask the projection service; returns the decoded JSON result."""
    msg = await request(
        nc, subjects.query(view), _encoder.encode(params or {}), f"query `{view}`", timeout
    )
    headers = msg.headers or {}
    if "Nats-Service-Error-Code" in headers:
        # why: nats micro's error convention, so other NATS tooling reads our errors too
        code, message = headers["Nats-Service-Error-Code"], headers.get("Nats-Service-Error", "")
        if code == "404":
            raise ScheduleNotFound(
                msgspec.json.decode(msg.data).get("name", "?") if msg.data else "?"
            )
        if code == "400":
            raise InvalidInput(message)
        raise InfrastructureError(message)
    return msgspec.json.decode(msg.data)
