"""How to reach NATS: the options NATS tooling takes (--server / NATS_URL, creds, nkey, TLS)
and the nats-py keyword arguments they become."""

from __future__ import annotations

import os
import ssl
from typing import Any
from urllib.parse import urlsplit

import msgspec

from jetcron import subjects
from jetcron.connect.reconnect import RECONNECT_CAP_S, STALE_PING_S, STALE_PINGS, ServerRotation
from jetcron.errors import InvalidInput

DEFAULT_URL = "nats://127.0.0.1:4222"


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


def tls_context(opts: ConnectOptions) -> ssl.SSLContext | None:
    """A TLS context from the CA and client cert options; None: plain, or nats-py's default
    context for a tls:// URL (the system's CAs)."""
    ca, (cert, key) = opts.ca(), opts.cert()
    if (cert is None) != (key is None):
        # why: ssl's own words for a lone certificate are "[SSL] PEM lib (_ssl.c:3926)"
        given, missing = ("cert", "key") if key is None else ("key", "cert")
        raise InvalidInput(
            f"--tls-{given} needs --tls-{missing} (or NATS_{missing.upper()}): a client "
            "certificate and its key (`jetcron auth cert NAME` writes both)"
        )
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


def identity_options(opts: ConnectOptions) -> dict[str, Any]:
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


def nats_options(opts: ConnectOptions, persistent: bool, timeout: float) -> dict[str, Any]:
    """nats-py's connect arguments for `opts`: a service's (`persistent`) or a CLI's."""
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
    kwargs |= identity_options(opts)
    if (tls := tls_context(opts)) is not None:
        kwargs["tls"] = tls
    return kwargs


def _readable(path: str, what: str) -> str:
    """The path of a credentials file, or InvalidInput naming it (nats-py would not say)."""
    # why: nats-py reads creds lazily, only if the server asks: a typo'd path would go unnoticed
    # against a server without auth and fail obscurely against one with it.
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise InvalidInput(f"--{what} {path}: no such readable file{_why_missing(path, what)}")
    return path


def _why_missing(path: str, what: str) -> str:
    """': user … was revoked …' for a revoked user's identity file (newcomer19c #7), else ''."""
    if what != "creds" or os.path.exists(path):
        return ""
    from pathlib import Path

    from jetcron.auth.store import revoked_file

    why = revoked_file(Path(path))
    return f": {why}" if why else ""
