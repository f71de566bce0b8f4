"""Connecting to NATS the way NATS tooling does: --server / NATS_URL, creds, nkey, TLS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec
from nats.aio.client import Client, Server
from nats.errors import NoServersError

from jetcron import subjects
from jetcron.errors import InfrastructureError, InvalidInput
from jetcron.log import refusals
from jetcron.log.connection import ConnectionWatch, probe
from jetcron.log.errors import connection_lost

if TYPE_CHECKING:
    from jetcron.auth.identity import Identity

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

    def ca(self) -> str | None:
        """--tls-ca, else $NATS_CA (as the nats CLI reads it)."""
        return self.tls_ca or os.environ.get("NATS_CA") or None

    def cert(self) -> tuple[str | None, str | None]:
        """--tls-cert/--tls-key, else $NATS_CERT/$NATS_KEY: a client certificate (mutual TLS)."""
        return (
            self.tls_cert or os.environ.get("NATS_CERT") or None,
            self.tls_key or os.environ.get("NATS_KEY") or None,
        )

    def creds_file(self) -> str | None:
        """--creds, else $NATS_CREDS, else --nkey / $NATS_NKEY: the identity file, if any."""
        return (
            self.creds or os.environ.get("NATS_CREDS") or self.nkey or os.environ.get("NATS_NKEY")
        ) or None

    def urls(self) -> list[str]:
        """The server URLs (comma-separated in --server/NATS_URL)."""
        raw = self.servers or os.environ.get("NATS_URL") or DEFAULT_URL
        return [u.strip() for u in raw.split(",") if u.strip()]


SCHEMES = ("nats", "tls", "ws", "wss")
"""URL schemes nats-py connects with (no scheme means nats://)."""


def checked_urls(opts: ConnectOptions) -> list[str]:
    """The server URLs; InvalidInput for one that is no NATS URL (nats-py would only say it
    cannot connect, and the CLI would exit 1 as for a server that is down)."""
    for url in opts.urls():
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            port_ok = False
        if parts.scheme not in SCHEMES or not parts.hostname or not port_ok:
            raise InvalidInput(
                f"invalid server URL {url!r} (--server / NATS_URL): write nats://HOST[:PORT] "
                "(or tls://, ws://, wss://; several comma-separated)"
            )
    return opts.urls()


def _unknown_host(urls: list[str]) -> None:
    """InvalidInput if no URL's host name exists (`-s notaurl`): a typo, not an outage.

    why only after a failed connect: the happy path pays no lookup; and only for a name the
    resolver says does not exist, not for a resolver that cannot answer now (EAI_AGAIN)
    """
    import socket

    unknown = []
    for url in urls:
        host = urlsplit(url if "://" in url else f"nats://{url}").hostname or ""
        try:
            socket.getaddrinfo(host, None)
        except socket.gaierror as err:
            if err.errno != socket.EAI_NONAME:
                return
            unknown.append(host)
        except (UnicodeError, OSError):
            return
        else:
            return
    raise InvalidInput(
        f"no such host {unknown[0]!r} in the server URL (--server / NATS_URL): write "
        "nats://HOST[:PORT], e.g. nats://127.0.0.1:4222"
    )


def _tls(opts: ConnectOptions) -> ssl.SSLContext | None:
    """A TLS context from the CA and client cert options; None: plain, or nats-py's default
    context for a tls:// URL (the system's CAs)."""
    ca, (cert, key) = opts.ca(), opts.cert()
    if not (ca or cert):
        return None
    for path, what in ((ca, "tls-ca"), (cert, "tls-cert"), (key, "tls-key")):
        if path is not None:
            _readable(path, what)
    try:
        ctx = ssl.create_default_context(cafile=ca)
        if cert:
            ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as err:
        raise InvalidInput(f"TLS files ({ca or ''} {cert or ''}): {err}") from None
    return ctx


def _identity(opts: ConnectOptions) -> dict[str, Any]:
    """nats-py's auth options for the identity file: a JWT creds file or a user nkey seed.

    A jetcron identity file also names its user, whose permissions allow replies only under
    its own inbox prefix (`_INBOX_<user>`), so that prefix is set too.
    """
    path = opts.creds_file()
    if path is None:
        return {}
    from jetcron.auth import identity

    found = identity.read(_readable(path, "creds"))
    if found.jwt:
        return {"user_credentials": found.path}
    kwargs: dict[str, Any] = {"nkeys_seed_str": found.seed, "jetcron_identity": found}
    if found.user is not None:
        kwargs["inbox_prefix"] = subjects.inbox_prefix(found.user)
    return kwargs


RECONNECT_BASE_S = 0.25
RECONNECT_CAP_S = 2.0
"""A service retries a server at most this far apart (nats' own reconnect_time_wait)."""
RECONNECT_JITTER_S = 0.1
"""Spread of each wait, so many clients do not reconnect in step (nats.go's ReconnectJitter)."""


def reconnect_delay(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the next try of a server already tried `attempts` times since it went away."""
    if attempts <= 0:
        return 0.0
    return (
        min(RECONNECT_BASE_S * 2.0 ** (attempts - 1), RECONNECT_CAP_S) + RECONNECT_JITTER_S * rand()
    )


class ServerRotation:
    """nats-py's reconnect hook for one service's client: the server tried least recently
    first, after a backoff that counts only this outage's tries of it.

    why not nats-py's own `reconnects` counts (what this hook used to pick the least of): the
    client resets a count only for the server it connects to, so after an outage in which every
    server was tried N times, the one in use has 0 and the others N; when it hung, it was
    picked again and again (a 2 s connect timeout each) until its count passed theirs, and a
    service stayed cut off for a whole 75 s freeze of one node of three (newcomer17b #6).
    The server in use counts as tried when it was connected to, so it goes last.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tried: dict[str, float] = {}
        """netloc -> when it was last tried (or connected to)."""
        self._tries: dict[str, int] = {}
        """netloc -> tries since the last successful connect (the backoff's count)."""

    def connected(self, url: str) -> None:
        """A (re)connect succeeded to `url`: it is the most recently tried; backoffs restart."""
        self._tries.clear()
        if netloc := urlsplit(url).netloc:
            self._tried[netloc] = self.clock()

    def __call__(self, servers: list[Server], _info: dict[str, Any]) -> tuple[Server | None, float]:
        chosen = min(servers, key=lambda s: self._tried.get(s.uri.netloc, -1.0), default=None)
        if chosen is None:
            return None, 0.0
        tries = self._tries.get(chosen.uri.netloc, 0)
        self._tries[chosen.uri.netloc] = tries + 1
        self._tried[chosen.uri.netloc] = self.clock()
        return chosen, reconnect_delay(tries)


STALE_PING_S = 2.0
STALE_PINGS = 2
"""A service's connection is given up when this many PINGs, one every STALE_PING_S, went
unanswered: a hung server (SIGSTOP, a stuck host) is left for another within 4-6 s.

why this fast: an executor on a hung node cannot renew its running triggers, and a peer of
its pool may take one over after the consumer's ack-wait (30 s by default); the client used
to notice only after ~30-34 s (10 s x 3), no sooner than that (newcomer17b #1). Our event
loop stalling cannot fake it: the PING timer then fires once, not three times.
"""


def _options(opts: ConnectOptions, persistent: bool, timeout: float) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "servers": checked_urls(opts),
        "name": opts.name,
        "connect_timeout": timeout,
        "pending_size": 64 * 1024 * 1024,
        # why: nats-py treats 0 as "unlimited" on the initial connect; 1 fails fast.
        "max_reconnect_attempts": -1 if persistent else 1,
        "allow_reconnect": persistent,
        "reconnect_time_wait": RECONNECT_CAP_S if persistent else 0.1,
    }
    if persistent:
        # why: notice a silently dead or hung server within 4-6 s (nats-py's default: 4 min)
        kwargs |= {"ping_interval": STALE_PING_S, "max_outstanding_pings": STALE_PINGS}
        kwargs["reconnect_to_server_handler"] = ServerRotation()
    kwargs |= _identity(opts)
    if (tls := _tls(opts)) is not None:
        kwargs["tls"] = tls
    return kwargs


def _watch_callbacks(
    nc: Client, watch: ConnectionWatch, closed: asyncio.Event, rotation: ServerRotation
) -> dict[str, Any]:
    """disconnected/reconnected/error callbacks that keep `watch` and `rotation` current and
    the log quiet; `closed` is set when the client is closed for good."""

    async def disconnected() -> None:
        if not nc.is_closed:  # why: nats-py calls this on close() too; that is no outage
            watch.lost(nc.last_error)

    async def reconnected() -> None:
        rotation.connected(_url(nc))
        watch.restored(_url(nc))

    async def error(err: Exception) -> None:
        text = str(err) or type(err).__name__
        if not nc.is_connected:
            watch.lost(err)  # why: one line per outage and a reminder now and then, not per try
        elif connection_lost(err):
            log.info("NATS: %s", text)  # why: the disconnected callback tells the story next
        else:
            log.warning("NATS: %s", text)

    async def on_closed() -> None:
        closed.set()

    return {
        "disconnected_cb": disconnected,
        "reconnected_cb": reconnected,
        "error_cb": error,
        "closed_cb": on_closed,
    }


_probes: set[asyncio.Task[None]] = set()
"""The probes of watched connections (asyncio itself holds tasks only weakly)."""


def _probe_while_open(nc: Client, watch: ConnectionWatch, closed: asyncio.Event) -> None:
    """Ask NATS for a round trip every 2 s until the client is closed, telling `watch`.

    why here, for every watched connection: each process that says "unreachable since T"
    (serve, executor, the web gateway, `runs follow`) must date it from NATS's last answer;
    without probes an executor dated a freeze from its previous reconnect (newcomer16b).
    """
    task = asyncio.create_task(probe(nc, watch, closed), name=f"probe of {watch.what}")
    _probes.add(task)
    task.add_done_callback(_probes.discard)


async def _quiet(err: Exception) -> None:
    log.debug("NATS: %s", str(err) or type(err).__name__)


def _url(nc: Client) -> str:
    server = nc.connected_url
    return f"{server.scheme}://{server.netloc}" if server is not None else ""


_identities: weakref.WeakKeyDictionary[Client, Identity] = weakref.WeakKeyDictionary()


def identity_of(nc: Client) -> str | None:
    """The jetcron user a client connected as (from its identity file), or None."""
    found = _identities.get(nc)
    return found.user if found is not None else None


def seed_of(nc: Client) -> str | None:
    """The nkey seed a client connected with (the scheduler signs triggers with it), or None."""
    found = _identities.get(nc)
    return found.seed if found is not None else None


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
    reporting outages to `watch` ("unreachable since T"); otherwise (CLI) fail fast, trying
    each server of a list in turn within one budget, and asynchronous errors (a permissions
    violation) go to `on_error` if given.
    """
    opts = opts or ConnectOptions()
    kwargs = _options(opts, persistent, timeout)
    found = kwargs.pop("jetcron_identity", None)
    if not persistent:
        return await _connect_cli(opts, kwargs, found, timeout, on_error or _quiet)
    nc = _client(found)
    watch = watch or ConnectionWatch()
    closed = asyncio.Event()
    rotation: ServerRotation = kwargs.get("reconnect_to_server_handler") or ServerRotation()
    kwargs |= _watch_callbacks(nc, watch, closed, rotation)
    kwargs["error_cb"] = _noting(nc, kwargs["error_cb"])
    try:
        # why: a service may start before its NATS cluster (compose); keep trying.
        await nc.connect(**kwargs)
    except Exception as err:
        _unknown_host(opts.urls())
        raise _unreachable(opts, [(opts.urls(), _said(err, timeout))]) from err
    rotation.connected(_url(nc))
    watch.restored(_url(nc))
    _probe_while_open(nc, watch, closed)
    return nc


def _client(found: Identity | None) -> Client:
    """A new client, remembering the identity it connects with (if any)."""
    nc = Client()
    if found is not None:
        _identities[nc] = found
    return nc


CLI_BUDGET_EXTRA_S = 1.0
"""A CLI connect may take `timeout` plus this, over all the servers it tries."""
PER_SERVER_MIN_S = 1.0
"""Each server of a list has at least this long (or `timeout`, if less) to answer a CLI."""


def per_server(timeout: float, servers: int) -> float:
    """Seconds one of `servers` servers has to answer a CLI connect.

    why not nats-py's own list: it gives the server it picks first the whole connect timeout
    and, without reconnects (a CLI), never tries another; a hung first pick (SIGSTOP, a frozen
    VM) failed half the commands of a 3-node cluster with two servers fine (newcomer17b).
    """
    return max(timeout / max(1, servers), min(timeout, PER_SERVER_MIN_S))


async def _connect_cli(
    opts: ConnectOptions,
    kwargs: dict[str, Any],
    found: Identity | None,
    timeout: float,
    on_error: Callable[[Exception], Awaitable[None]],
) -> Client:
    """Try the servers in random order (as nats-py would), each for `per_server` seconds,
    within `timeout + CLI_BUDGET_EXTRA_S` in all; the first that answers wins."""
    urls = list(kwargs["servers"])
    each = per_server(timeout, len(urls))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout + CLI_BUDGET_EXTRA_S
    tried: list[tuple[list[str], str]] = []
    for url in random.sample(urls, len(urls)):
        left = deadline - loop.time()
        if left <= 0.05:
            tried.append(
                ([url], f"not tried (the {timeout + CLI_BUDGET_EXTRA_S:g}s budget ran out)")
            )
            continue
        wait = min(each, left)
        nc, seen = _client(found), _Seen(on_error)
        try:
            args = kwargs | {"servers": [url], "connect_timeout": wait}
            await _within(nc.connect(**args, error_cb=_noting(nc, seen.error)), wait + 0.5)
            return nc
        except Exception as err:
            tried.append(([url], _said(seen.cause(err), wait)))
            await _discard(nc)
    _unknown_host(urls)
    raise _unreachable(opts, tried)


class _Seen:
    """The errors nats-py reported while one server was tried (its final error hides them)."""

    def __init__(self, then: Callable[[Exception], Awaitable[None]]) -> None:
        self.then = then
        self.first: Exception | None = None

    async def error(self, err: Exception) -> None:
        """nats-py's error callback: remember the first, pass every one on."""
        self.first = self.first or err
        await self.then(err)

    def cause(self, err: Exception) -> Exception:
        """What went wrong: `err`, unless it only says nats-py ran out of servers."""
        if isinstance(err, NoServersError) and self.first is not None:
            return self.first
        return err


async def _discard(nc: Client) -> None:
    """Close a client whose connect failed (its socket to a hung server among it), briefly."""
    with contextlib.suppress(Exception):
        await _within(close(nc), 0.5)


def _said(err: BaseException, timeout: float) -> str:
    """What a server did, in a few words."""
    if isinstance(err, TimeoutError):
        # why: a refused port fails at once; a timeout means something took the connection
        # and said nothing (a stopped or hung server, a stalled disk, a dropping firewall)
        return f"no answer within {timeout:g}s (something accepts connections there but does not speak NATS now: a hung, stopped or overloaded server?)"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    return str(err) or type(err).__name__


def _unreachable(opts: ConnectOptions, tried: list[tuple[list[str], str]]) -> InfrastructureError:
    """The one line a failed connect says: the servers tried, what each did, what to do."""
    urls = opts.urls()
    text = "; ".join(said for _, said in tried)
    hint = _hint(text, opts.creds_file(), several=len(urls) > 1)
    dropped = ("connection lost", "broken pipe", "reset by peer", "certificate required")
    if (
        any(d in text.lower() for d in dropped)
        and any(u.startswith("tls://") for u in urls)
        and opts.cert()[0] is None
    ):
        # why: a server that verifies clients drops the handshake, and how the client sees
        # it is a race: an alert, a lost connection or a broken pipe
        hint = "if the server verifies clients, pass --tls-cert/--tls-key (`jetcron auth cert`)"
    if len(tried) == 1:
        return InfrastructureError(
            f"cannot connect to NATS at {', '.join(tried[0][0])}: {tried[0][1]}. {hint}"
        )
    each = "; ".join(f"{', '.join(where)}: {said}" for where, said in tried)
    return InfrastructureError(
        f"cannot connect to NATS at any of its {len(urls)} servers: {each}. {hint}"
    )


async def _within(aw: Awaitable[None], seconds: float) -> None:
    """Await `aw` for at most `seconds` (TimeoutError after); cancelled, cancel it and wait.

    why not asyncio.wait_for: when a Ctrl-C cancels us in the instant nats-py's own connect
    timeout fires, 3.11's wait_for leaves the connect's TimeoutError unretrieved, and asyncio
    logs it with a traceback as the CLI exits.
    """
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        await _settle(task)
        raise
    if not done:
        await _settle(task)
        raise TimeoutError
    task.result()


async def _settle(task: asyncio.Future[None]) -> None:
    """Cancel a task and wait until it ends; whatever it ended with is retrieved and dropped."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # why: a failure of its own, racing the cancel: seen, not logged


def _noting(
    nc: Client, then: Callable[[Exception], Awaitable[None]]
) -> Callable[[Exception], Awaitable[None]]:
    """An error callback that records a permissions violation for the client (the one place
    they are read: log/refusals.py), then does what `then` does unless it was expected."""

    async def error(err: Exception) -> None:
        if not refusals.of(nc).note(err):
            await then(err)  # why: a refusal someone is waiting for is theirs to say

    return error


def _hint(error: str, creds: str | None, *, several: bool = False) -> str:
    """What to do about a failed connect (`creds`: the identity file passed, if any;
    `several`: a list of servers was given, so this is no `jetcron up` on one machine)."""
    lowered = error.lower()
    if "authorization" in lowered and creds is not None:
        # why: creds were passed; "pass --creds" would send the user looking for the wrong fault
        return (
            f"the server refused the identity in {creds} (revoked, not a user of this server, "
            "or a server secured otherwise): ask an admin (`jetcron auth user list`)"
        )
    if "authorization" in lowered:
        return "pass --creds FILE or set NATS_CREDS (see `jetcron auth`)"
    if "certificate" in lowered or "ssl" in lowered:
        return "pass --tls-ca FILE or set NATS_CA (a secured `jetcron up`: DATA_DIR/auth/ca.pem)"
    if several:
        return "Are those NATS servers running? (or pass --server / set NATS_URL)"
    return "Is `jetcron up` running? (or pass --server / set NATS_URL)"


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


def _readable(path: str, what: str) -> str:
    """The path of a credentials file, or InvalidInput naming it (nats-py would not say)."""
    # why: nats-py reads creds lazily, only if the server asks: a typo'd path would go unnoticed
    # against a server without auth and fail obscurely against one with it.
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise InvalidInput(f"--{what} {path}: no such readable file")
    return path
