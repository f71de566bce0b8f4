"""The client side of commands and queries: what the CLI (or any Python program) calls."""

from __future__ import annotations

from typing import Any

import msgspec
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from jetcron import subjects
from jetcron.errors import InfrastructureError, InvalidInput, ServiceUnavailable
from jetcron.scheduler.commands import AnyCommand
from jetcron.scheduler.errors import CommandRejected, ScheduleNotFound
from jetcron.scheduler.handler import CommandReply, reply_decoder

_encoder = msgspec.json.Encoder()


async def request(nc: Client, subject: str, payload: bytes, what: str, timeout: float) -> bytes:
    """Request/reply with jetcron's errors: ServiceUnavailable when nobody answers."""
    try:
        msg = await nc.request(subject, payload, timeout=timeout)
    except NoRespondersError as err:
        raise ServiceUnavailable(what) from err
    except NatsTimeout as err:
        raise ServiceUnavailable(f"{what} within {timeout:g}s") from err
    return msg.data


async def send_command(nc: Client, command: AnyCommand, *, timeout: float = 3.0) -> CommandReply:
    """Send a command; the reply, or the rejection raised as CommandRejected/ScheduleNotFound."""
    verb = command.__struct_config__.tag
    data = await request(nc, subjects.command(str(verb)), _encoder.encode(command), f"`{verb}`", timeout)
    reply = reply_decoder.decode(data)
    if reply.ok:
        return reply
    if reply.code == "not_found":
        raise ScheduleNotFound(command.name)
    if reply.code in ("rejected", "invalid"):
        raise CommandRejected(reply.error)
    raise InfrastructureError(reply.error)


async def query(nc: Client, view: str, params: dict[str, Any] | None = None, *, timeout: float = 5.0) -> Any:
    """Ask the projection service; returns the decoded JSON result."""
    data = await request(nc, subjects.query(view), _encoder.encode(params or {}), f"query `{view}`", timeout)
    result = msgspec.json.decode(data)
    if isinstance(result, dict) and result.get("error"):
        code = result.get("code", "error")
        if code == "not_found":
            raise ScheduleNotFound(str(result.get("name", "?")))
        if code == "invalid":
            raise InvalidInput(str(result["error"]))
        raise InfrastructureError(str(result["error"]))
    return result
