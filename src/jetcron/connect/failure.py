"""What a failed connect says: the servers tried, what each did, and what to do about it."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from jetcron.errors import InfrastructureError, InvalidInput

if TYPE_CHECKING:
    from jetcron.connect.options import ConnectOptions


def unknown_host(urls: list[str]) -> None:
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


def said(err: BaseException, timeout: float) -> str:
    """What a server did, in a few words."""
    if isinstance(err, TimeoutError):
        # why: a refused port fails at once; a timeout means something took the connection
        # and said nothing (a stopped or hung server, a stalled disk, a dropping firewall)
        return f"no answer within {timeout:g}s (something accepts connections there but does not speak NATS now: a hung, stopped or overloaded server?)"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    return str(err) or type(err).__name__


def unreachable(opts: ConnectOptions, tried: list[tuple[list[str], str]]) -> InfrastructureError:
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


REFUSALS = (
    "authorization violation",
    "authorization failed",
    "authentication expired",
    "authentication revoked",
)
"""What nats-server (and nats-py) say when the server refuses a client's credentials."""


def identity_refused(err: BaseException | str | None) -> bool:
    """Whether a server refused the client's identity, not the connection: it is there, and
    it will answer the same to every retry (a revoked user, no creds for a secured server).

    The one rule: a CLI's failed connect says so instead of "unreachable", and a service's
    connection stops reconnecting on it (connect/reconnect.py).
    """
    text = (str(err) or type(err).__name__) if isinstance(err, BaseException) else err or ""
    return any(said in text.lower() for said in REFUSALS)


def refused_hint(creds: str | None) -> str:
    """What to do about a refused identity (`creds`: the identity file used, if any)."""
    if creds is not None:
        # why: creds were passed; "pass --creds" would send the user looking for the wrong fault
        return (
            f"the server refused the identity in {creds} (revoked, not a user of this server, "
            "or a server secured otherwise): ask an admin (`jetcron auth user list`)"
        )
    return "pass --creds FILE or set NATS_CREDS (see `jetcron auth`)"


def refused(opts: ConnectOptions, err: BaseException | str) -> str:
    """The one line a service or follower stops with when its identity is refused."""
    said = str(err) or type(err).__name__
    return f"NATS at {', '.join(opts.urls())} said {said}: {refused_hint(opts.creds_file())}"


def _hint(error: str, creds: str | None, *, several: bool = False) -> str:
    """What to do about a failed connect (`creds`: the identity file passed, if any;
    `several`: a list of servers was given, so this is no `jetcron up` on one machine)."""
    lowered = error.lower()
    if identity_refused(error):
        return refused_hint(creds)
    if "certificate" in lowered or "ssl" in lowered:
        return "pass --tls-ca FILE or set NATS_CA (a secured `jetcron up`: DATA_DIR/auth/ca.pem)"
    if several:
        return "Are those NATS servers running? (or pass --server / set NATS_URL)"
    return "Is NATS (or `jetcron up`) running? (or pass --server / set NATS_URL)"
