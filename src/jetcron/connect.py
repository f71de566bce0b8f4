"""Connecting to NATS the way NATS tooling does: --server / NATS_URL, creds, nkey, TLS."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import Any

import msgspec
import nats
from nats.aio.client import Client

from jetcron.errors import InfrastructureError

DEFAULT_URL = "nats://127.0.0.1:4222"
log = logging.getLogger(__name__)


class ConnectOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How to reach NATS; every field also has the environment variable NATS tooling uses."""

    servers: str = ""
    creds: str | None = None
    nkey: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    name: str = "jetcron"

    def urls(self) -> list[str]:
        """The server URLs (comma-separated in --server/NATS_URL)."""
        raw = self.servers or os.environ.get("NATS_URL") or DEFAULT_URL
        return [u.strip() for u in raw.split(",") if u.strip()]


def _tls(opts: ConnectOptions) -> ssl.SSLContext | None:
    if not (opts.tls_ca or opts.tls_cert):
        return None
    ctx = ssl.create_default_context(cafile=opts.tls_ca)
    if opts.tls_cert:
        ctx.load_cert_chain(opts.tls_cert, opts.tls_key)
    return ctx


async def connect(
    opts: ConnectOptions | None = None, *, persistent: bool = False, timeout: float = 2.0
) -> Client:
    """A connected client; InfrastructureError naming the URL if NATS is not reachable.

    persistent=True (services) reconnects forever; otherwise (CLI) fail fast.
    """
    opts = opts or ConnectOptions()
    kwargs: dict[str, Any] = {
        "servers": opts.urls(),
        "name": opts.name,
        "connect_timeout": timeout,
        "pending_size": 64 * 1024 * 1024,
        # why: nats-py treats 0 as "unlimited" on the initial connect; 1 fails fast.
        "max_reconnect_attempts": -1 if persistent else 1,
        "allow_reconnect": persistent,
        "reconnect_time_wait": 0.5 if persistent else 0.1,
    }
    if opts.creds or os.environ.get("NATS_CREDS"):
        kwargs["user_credentials"] = opts.creds or os.environ["NATS_CREDS"]
    if opts.nkey or os.environ.get("NATS_NKEY"):
        kwargs["nkeys_seed"] = opts.nkey or os.environ["NATS_NKEY"]
    if (tls := _tls(opts)) is not None:
        kwargs["tls"] = tls

    async def _on_error(err: Exception) -> None:
        if persistent:
            log.warning("NATS %s: %s (retrying)", ", ".join(opts.urls()), err or type(err).__name__)

    kwargs["error_cb"] = _on_error
    try:
        if persistent:
            # why: a service may start before its NATS cluster (compose); keep trying.
            return await nats.connect(**kwargs)
        return await asyncio.wait_for(nats.connect(**kwargs), timeout + 1.0)
    except Exception as err:
        raise InfrastructureError(
            f"cannot connect to NATS at {', '.join(opts.urls())}: {err or type(err).__name__}. "
            "Is `jetcron up` running? (or pass --server / set NATS_URL)"
        ) from err
