"""The clients we connect: the identity each connected as, the error callback that notes
permission refusals, and closing one quietly."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from nats.aio.client import Client

from jetcron.log import refusals

if TYPE_CHECKING:
    from jetcron.auth.identity import Identity

log = logging.getLogger("jetcron.connect")  # why: the package's one logger, as before the split

_identities: weakref.WeakKeyDictionary[Client, Identity] = weakref.WeakKeyDictionary()


def identity_of(nc: Client) -> str | None:
    """The jetcron user a client connected as (from its identity file), or None."""
    found = _identities.get(nc)
    return found.user if found is not None else None


def seed_of(nc: Client) -> str | None:
    """The nkey seed a client connected with (the scheduler signs triggers with it), or None."""
    found = _identities.get(nc)
    return found.seed if found is not None else None


def new_client(found: Identity | None) -> Client:
    """A new client, remembering the identity it connects with (if any)."""
    nc = Client()
    if found is not None:
        _identities[nc] = found
    return nc


async def quiet(err: Exception) -> None:
    """An error callback that only logs (at debug level)."""
    log.debug("NATS: %s", str(err) or type(err).__name__)


def noting(
    nc: Client, then: Callable[[Exception], Awaitable[None]]
) -> Callable[[Exception], Awaitable[None]]:
    """An error callback that records a permissions violation for the client (the one place
    they are read: log/refusals.py), then does what `then` does unless it was expected."""

    async def error(err: Exception) -> None:
        if not refusals.of(nc).note(err):
            await then(err)  # why: a refusal someone is waiting for is theirs to say

    return error


class _TlsCloseNoise(logging.Filter):
    """Drops asyncio's warning about nats-py's transport on every close of a TLS connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        # why: nats-py's protocol returns True from eof_received (keep open), which asyncio's
        # SSL transport ignores and warns about; harmless, but it would end every CLI command.
        return "eof_received() has no effect when using ssl" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_TlsCloseNoise())


async def close(nc: Client) -> None:
    """Close a client without letting a close error (e.g. "Connection lost") hide the real one."""
    try:
        await nc.close()
    except Exception as err:  # noqa: BLE001 - we are on the way out; the cause matters, not this
        log.debug("closing the NATS connection: %s", str(err) or type(err).__name__)
