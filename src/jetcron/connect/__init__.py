"""Connecting to NATS the way NATS tooling does: --server / NATS_URL, creds, nkey, TLS.

`connect` is the one way in: a service's connection (`reconnect`) or a CLI's (`oneshot`),
from `options`; `clients` remembers who each connected as; `failure` says why one failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.client import Client

from jetcron.connect.clients import close, identity_of, new_client, noting, quiet, seed_of
from jetcron.connect.failure import identity_refused, refused, said, unknown_host, unreachable
from jetcron.connect.oneshot import CLI_BUDGET_EXTRA_S, PER_SERVER_MIN_S, connect_cli, per_server
from jetcron.connect.options import DEFAULT_URL, SCHEMES, ConnectOptions, checked_urls, nats_options
from jetcron.connect.reconnect import (
    RECONNECT_BASE_S,
    RECONNECT_CAP_S,
    RECONNECT_JITTER_S,
    STALE_PING_S,
    STALE_PINGS,
    IdentityRefusals,
    ServerRotation,
    probe_while_open,
    reconnect_delay,
    url_of,
    watch_callbacks,
)
from jetcron.errors import IdentityRefused
from jetcron.log.connection import ConnectionWatch

T = TypeVar("T")

__all__ = [
    "CLI_BUDGET_EXTRA_S",
    "DEFAULT_URL",
    "PER_SERVER_MIN_S",
    "RECONNECT_BASE_S",
    "RECONNECT_CAP_S",
    "RECONNECT_JITTER_S",
    "SCHEMES",
    "STALE_PINGS",
    "STALE_PING_S",
    "ConnectOptions",
    "IdentityRefusals",
    "ServerRotation",
    "checked_urls",
    "close",
    "connect",
    "identity_of",
    "identity_refused",
    "per_server",
    "reconnect_delay",
    "seed_of",
    "unless_refused",
]


async def connect(
    opts: ConnectOptions | None = None,
    *,
    persistent: bool = False,
    timeout: float = 2.0,
    watch: ConnectionWatch | None = None,
    on_error: Callable[[Exception], Awaitable[None]] | None = None,
) -> Client:
    """A connected client; InfrastructureError naming the URL if NATS is not reachable.

    persistent=True (services) waits for NATS and then reconnects forever, with backoff,
    reporting outages to `watch` ("unreachable since T"), unless the servers refuse its
    identity: IdentityRefused then if not yet connected, else `watch.refused()` says so (the
    client goes on trying until its owner stops and closes it); otherwise (CLI) fail fast, trying
    each server of a list in turn within one budget, and asynchronous errors (a permissions
    violation) go to `on_error` if given.
    """
    opts = opts or ConnectOptions()
    kwargs = nats_options(opts, persistent, timeout)
    found = kwargs.pop("jetcron_identity", None)
    if not persistent:
        return await connect_cli(opts, kwargs, found, timeout, on_error or quiet)
    nc = new_client(found)
    watch = watch or ConnectionWatch()
    closed = asyncio.Event()
    rotation: ServerRotation = kwargs.get("reconnect_to_server_handler") or ServerRotation()
    counted = IdentityRefusals(len(opts.urls()))
    kwargs |= watch_callbacks(nc, watch, closed, rotation, (counted, lambda e: refused(opts, e)))
    kwargs["error_cb"] = noting(nc, kwargs["error_cb"])
    try:
        # why: a service may start before its NATS cluster (compose); keep trying.
        await unless_refused(watch, nc.connect(**kwargs))
    except IdentityRefused:
        await close(nc)
        raise
    except Exception as err:
        unknown_host(opts.urls())
        raise unreachable(opts, [(opts.urls(), said(err, timeout))]) from err
    rotation.connected(url_of(nc))
    watch.restored(url_of(nc))
    probe_while_open(nc, watch, closed)
    return nc


async def unless_refused(watch: ConnectionWatch, work: Awaitable[T]) -> T:
    """`work`'s result; IdentityRefused (and `work` cancelled) if the server refuses the
    identity of `watch`'s connection first (a follower of a revoked user, newcomer19c #6)."""
    task = asyncio.ensure_future(work)
    refusal = asyncio.ensure_future(watch.refused())
    try:
        await asyncio.wait({task, refusal}, return_when=asyncio.FIRST_COMPLETED)
        if refusal.done():
            raise IdentityRefused(refusal.result())
        return task.result()
    finally:
        refusal.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
