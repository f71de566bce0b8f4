"""The gateway's guard against other web pages: DNS rebinding and cross-site request forgery.

The console holds no cookie (it sends a bearer token from local storage), and without
--token-file (localhost only) a request needs no credential at all, so any page the operator
visits could post to http://127.0.0.1:8080 or, its name rebound to 127.0.0.1, read answers.
One rule, here, for every request before any route sees it:

- **Host**: an IP address (a page cannot rebind an address it does not name), `localhost`,
  the name `--host` gave, or an `--allowed-host` name; else 421 naming the setting.
- **Changes** (POST, PUT, PATCH, DELETE) come from the gateway's own pages or from clients
  that are not browsers: a browser's `Sec-Fetch-Site` must say `same-origin` (or `none`);
  without it, an `Origin` must be the request's own host; else 403. A request with neither
  header is no browser's (curl, scripts) and passes.
- **A change's body is JSON** (`Content-Type: application/json`, or `application/*+json`):
  text/plain and forms, the types a page may send without asking first, are 415, so a browser
  must ask (a CORS preflight), and the gateway answers no preflight (it sends no CORS headers).
- **Framing**: every answer it passes on says no page may frame it (`X-Frame-Options: DENY`,
  CSP `frame-ancestors 'none'`): a page framing the console would have the operator click in
  it, and the framed console's own requests are `same-origin`, so the rule above lets them by.
  The same CSP keeps the console to its own files (no inline script, no other origin).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jetcron.errors import InvalidInput
from jetcron.web.problems import Problem

LOCAL_NAMES = frozenset({"localhost"})
"""Host names served by default (IP addresses always are)."""
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BROWSER_OWN = frozenset({"same-origin", "none"})
"""`Sec-Fetch-Site` values of a request made by the gateway's own page or typed by the user."""
POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""The console's Content-Security-Policy: its own scripts, styles and API only (the favicon
is a data: URL); no page may frame it."""
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),  # why: browsers without CSP frame-ancestors read this one
    (b"content-security-policy", POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
"""Sent with every answer (see the module)."""


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def served_names(bind: str, allowed: Iterable[str] = ()) -> frozenset[str]:
    """The host names the gateway answers to: localhost, the name it binds to (not an
    address: addresses are always served), each --allowed-host; InvalidInput for a bad one."""
    names = set(LOCAL_NAMES)
    if bind and not _is_ip(bind):
        names.add(bind.lower())
    for name in allowed:
        if not name or any(c in name for c in ":/*@ ") or name.startswith("."):
            raise InvalidInput(
                f"--allowed-host {name!r}: give a host name as browsers send it, without "
                "scheme or port (e.g. jetcron.example); IP addresses are always served"
            )
        names.add(name.lower())
    return frozenset(names)


def hostname(host: str) -> str:
    """The name of a Host header (`name:port`, `[v6]:port`), lower case, without the port."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else host


def _wrong_host(host: str | None, names: frozenset[str]) -> Problem | None:
    if host is None:  # why: no browser omits Host; an HTTP/1.0 client is not a page
        return None
    name = hostname(host)
    if name in names or _is_ip(name):
        return None
    return Problem(
        421,
        f"Host {host!r} is not a name this gateway serves (localhost, IP addresses, its --host); "
        f"if it is yours, serve it with `jetcron web --allowed-host {name}`",
    )


def _foreign(method: str, headers: Mapping[str, str]) -> Problem | None:
    # why: Sec-Fetch-Site is set by the browser and no page can forge it; it also covers a
    # proxy that rewrites Host (the console's own requests still say same-origin)
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site.lower() in BROWSER_OWN:
            return None
        why = f"it comes from a page of another origin (Sec-Fetch-Site: {site})"
    else:
        origin = headers.get("origin")
        if origin is None:
            return None  # why: curl, scripts and the CLI send no Origin; browsers always do
        own = headers.get("host", "").strip().lower()
        if origin != "null" and origin.partition("://")[2].lower() == own:
            return None
        why = f"it comes from a page of another origin (Origin: {origin}, this is {own})"
    return Problem(
        403,
        f"{method} refused: {why}; changes are taken from this gateway's own console "
        "or from clients that are not browsers (curl, scripts)",
    )


def _not_json(method: str, headers: Mapping[str, str]) -> Problem | None:
    length = headers.get("content-length", "")
    if "transfer-encoding" not in headers and (not length.isdigit() or int(length) == 0):
        return None
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return None
    return Problem(
        415,
        f"{method} with Content-Type {media or '(none)'} refused: send the body as JSON with "
        "Content-Type: application/json",
    )


def refusal(method: str, headers: Mapping[str, str], names: frozenset[str]) -> Problem | None:
    """Why this request is refused before any route sees it, or None (see the module)."""
    wrong = _wrong_host(headers.get("host"), names)
    if wrong is not None or method not in CHANGES:
        return wrong
    return _foreign(method, headers) or _not_json(method, headers)


class _Answer:
    """The send of one request: HEADERS added to its answer, and whether the answer began."""

    def __init__(self, send: Send) -> None:
        self.send, self.started = send, False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            message = {**message, "headers": [*message.get("headers", ()), *HEADERS]}
        await self.send(message)


class Guard:
    """ASGI middleware: a request `refusal` refuses is answered with its problem, unread;
    every answer carries HEADERS."""

    def __init__(self, app: ASGIApp, *, names: frozenset[str]) -> None:
        self.app, self.names = app, names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = _Answer(send)
        problem = refusal(scope["method"], Headers(scope=scope), self.names)
        try:
            await (problem.response(scope["path"]) if problem else self.app)(scope, receive, answer)
        except Exception:
            # why: Starlette answers an error nothing handled outside every middleware, so its
            # 500 would go without HEADERS; answered here, it is only logged out there
            if not answer.started:
                crash = Problem(500, "internal error: the gateway's log says what failed")
                await crash.response(scope["path"])(scope, receive, answer)
            raise
