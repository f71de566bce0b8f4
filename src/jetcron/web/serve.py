"""Serving the app with uvicorn: the bind rule, a pre-bound socket, stop on an asyncio.Event."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

import uvicorn

from jetcron.connect import ConnectOptions
from jetcron.errors import IdentityRefused, InvalidInput
from jetcron.web.app import create_app
from jetcron.web.auth import Tokens, load_tokens
from jetcron.web.gateway import Gateway
from jetcron.web.guard import served_names

log = logging.getLogger(__name__)
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
GRACE_S = 5
"""On stop, requests still running after this long are cancelled (live streams end at once)."""


def check_bind(host: str, tokens: Tokens) -> None:
    """Refuse to listen beyond this machine without tokens (anyone on the LAN would be admin)."""
    if host not in LOCAL_HOSTS and not tokens.configured:
        raise InvalidInput(
            f"--host {host}: refusing to serve beyond localhost without tokens; "
            "give --token-file (see README, HTTP API) or use --host 127.0.0.1"
        )


def gateway_for(
    options: ConnectOptions,
    host: str,
    token_file: Path | None,
    actor: str | None = None,
    allowed_hosts: Iterable[str] = (),
) -> Gateway:
    """A gateway with its tokens, after the bind rule (InvalidInput if it is broken), serving
    the host names of `guard.served_names`.

    Without tokens every change is made as `actor` (default `$USER@host (web)`).
    """
    tokens = load_tokens(token_file) if token_file else Tokens()
    check_bind(host, tokens)
    served = served_names(host, allowed_hosts)
    if not actor:
        try:
            user = getpass.getuser()
        except Exception:  # noqa: BLE001 - no passwd entry in some containers
            user = "unknown"
        actor = f"{user}@{socket.gethostname()} (web)"
    return Gateway(options, tokens, local_user=actor, served=served)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, so a taken port fails here with one clear line (uvicorn would exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # why: connections accepted from a socket handed to uvicorn kept Nagle on here (measured:
    # every keep-alive request ~45 ms, delayed ACK); accepted sockets inherit this option
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise InvalidInput(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the process that hosts it decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(gateway: Gateway, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve the app on `sock` until `stop` is set."""
    config = uvicorn.Config(
        create_app(gateway),
        log_level="warning",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=GRACE_S,
    )
    server = _Server(config)
    watcher = asyncio.ensure_future(stop.wait())
    # why: a gateway whose NATS identity is refused (revoked) answers nothing any more
    refused = asyncio.ensure_future(gateway.watch.refused())
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.wait({watcher, refused, task}, return_when=asyncio.FIRST_COMPLETED)
        # why: uvicorn waits for open responses; a console tab's live stream never ends by itself
        gateway.stopping = True
        server.should_exit = True
        await task
    finally:
        watcher.cancel()
        refused.cancel()
        sock.close()
    if refused.done() and not refused.cancelled():
        raise IdentityRefused(refused.result())


def url_of(sock: socket.socket) -> str:
    """http://host:port of a listening socket."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"
