"""The gateway's guard (web/guard.py) against other web pages: the rule itself, pure, and a
real token-less gateway (what `jetcron up` serves) sent what a foreign page or a rebound name
would send: refused with one line, nothing appended to the log.

The browser's side (a page of another origin trying it in Chromium) is test_console_guard.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from test_api import problem
from webstack import Stack, cli, create, run_stack

from jetcron.connect import ConnectOptions
from jetcron.errors import InvalidInput
from jetcron.web.app import create_app
from jetcron.web.auth import Tokens
from jetcron.web.gateway import Gateway
from jetcron.web.guard import refusal, served_names

NAMES = served_names("127.0.0.1", ["jetcron.example"])
OWN = "127.0.0.1:8080"
JSON = {"content-type": "application/json", "content-length": "2"}

CASES = [
    # (id, method, headers, status or None)
    ("loopback", "GET", {"host": OWN}, None),
    ("localhost", "GET", {"host": "localhost:8080"}, None),
    ("ipv6-loopback", "GET", {"host": "[::1]:8080"}, None),
    ("lan-address", "GET", {"host": "192.168.1.20:8080"}, None),
    ("allowed-name", "GET", {"host": "JetCron.example"}, None),
    ("rebound-name", "GET", {"host": "evil.example:8080"}, 421),
    ("localhost-lookalike", "GET", {"host": "localhost.evil.example"}, 421),
    ("no-host", "GET", {}, None),
    ("curl-json", "POST", {"host": OWN, **JSON}, None),
    ("curl-no-body", "POST", {"host": OWN}, None),
    (
        "curl-form",
        "POST",
        {"host": OWN, "content-type": "application/x-www-form-urlencoded", "content-length": "9"},
        415,
    ),  # fmt: skip
    ("curl-no-type", "PATCH", {"host": OWN, "content-length": "2"}, 415),
    (
        "merge-patch",
        "PATCH",
        {"host": OWN, "content-type": "application/merge-patch+json", "content-length": "2"},
        None,
    ),  # fmt: skip
    (
        "chunked-text",
        "POST",
        {"host": OWN, "transfer-encoding": "chunked", "content-type": "text/plain"},
        415,
    ),  # fmt: skip
    ("own-origin", "POST", {"host": OWN, "origin": f"http://{OWN}", **JSON}, None),
    ("foreign-origin", "POST", {"host": OWN, "origin": "http://evil.example", **JSON}, 403),
    ("other-port", "DELETE", {"host": OWN, "origin": "http://127.0.0.1:3000"}, 403),
    ("null-origin", "POST", {"host": OWN, "origin": "null"}, 403),
    ("fetch-same-origin", "POST", {"host": OWN, "sec-fetch-site": "same-origin", **JSON}, None),
    # why: behind a proxy that rewrites Host, the browser still says its own page asked
    (
        "proxied",
        "POST",
        {"host": OWN, "origin": "https://jetcron.example", "sec-fetch-site": "same-origin", **JSON},
        None,
    ),  # fmt: skip
    ("fetch-same-site", "POST", {"host": OWN, "sec-fetch-site": "same-site"}, 403),
    (
        "fetch-cross-site",
        "PUT",
        {"host": OWN, "sec-fetch-site": "cross-site", "origin": f"http://{OWN}"},
        403,
    ),  # fmt: skip
    ("cross-site-read", "GET", {"host": OWN, "sec-fetch-site": "cross-site"}, None),
    ("rebound-change", "POST", {"host": "evil.example", "origin": "http://evil.example"}, 421),
]


@pytest.mark.parametrize(
    ("method", "headers", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_rule(method: str, headers: dict[str, str], status: int | None) -> None:
    said = refusal(method, headers, NAMES)
    assert (said and said.status) == status, said and said.detail


@pytest.mark.parametrize("name", ["http://jetcron.example", "jetcron.example:443", "*", ".x", ""])
def test_an_allowed_host_is_a_bare_name(name: str) -> None:
    with pytest.raises(InvalidInput, match="--allowed-host .*without scheme or port"):
        served_names("127.0.0.1", [name])


def test_the_names_served() -> None:
    assert served_names("127.0.0.1") == {"localhost"}
    assert served_names("0.0.0.0", ["A.example"]) == {"localhost", "a.example"}
    assert served_names("jetcron.lan") == {"localhost", "jetcron.lan"}


def test_jetcron_web_refuses_a_bad_allowed_host() -> None:
    said = cli("", "web", "--allowed-host", "https://jetcron.example", "--port", "0")
    assert said.exit_code == 2, said.output
    assert "--allowed-host 'https://jetcron.example': give a host name" in said.stderr


async def test_an_allowed_host_is_served_others_are_not() -> None:
    served = served_names("127.0.0.1", ["jetcron.example"])
    gateway = Gateway(ConnectOptions(), Tokens(), local_user="t", served=served)
    app = create_app(gateway, connect=False)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jetcron.example") as http:
        assert (await http.get("/healthz")).status_code == 200
        rebound = await http.get("/healthz", headers={"host": "evil.example"})
        assert rebound.status_code == 421
        assert rebound.json()["detail"].endswith(
            "serve it with `jetcron web --allowed-host evil.example`"
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("guard"), tokens=False)


async def _appended(nats_url: str, after: int | None) -> tuple[int, list[str]]:
    import nats

    from jetcron.subjects import PREFIX, STREAM

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        end = int((await js.stream_info(STREAM)).state.last_seq)
        after = end if after is None else after
        subjects = [(await js.get_msg(STREAM, seq)).subject for seq in range(after + 1, end + 1)]
    finally:
        await nc.close()
    # why: an executor's presence (its heartbeat seen) is appended whenever it comes
    return end, [s for s in subjects if not s.startswith(f"{PREFIX}.host.")]


def appended(stack: Stack, after: int | None = None) -> tuple[int, list[str]]:
    """The log's last sequence, and the subjects of the changes appended after `after`
    (none without it)."""
    # why: in a thread of its own, as the browser tests' playwright runs a loop in this one
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(asyncio.run, _appended(stack.nats_url, after)).result()


YEARLY = "0 3 1 1 *"
"""The spec of this module's schedules: no fire moves the log while a test compares its end."""
BODY = '{"name": "csrf", "spec": "0 3 1 1 *", "command": ["sh", "-c", "echo pwned"]}'
EVIL = {"Origin": "http://evil.example"}


def test_what_another_page_sends_changes_nothing(stack: Stack) -> None:
    with stack.client(None) as http:
        assert (
            create(http, "csrf-target", spec=YEARLY).status_code == 201
        )  # why: a schedule to trigger
        before, _ = appended(stack)
        # the newcomer's repro: a no-cors fetch's text/plain body, then a bodiless trigger
        made = http.post("/api/v1/schedules", content=BODY, headers={**EVIL, "Content-Type": "text/plain"})  # fmt: skip
        assert problem(made, 403).startswith(
            "POST refused: it comes from a page of another origin (Origin: http://evil.example, "
            "this is 127.0.0.1:"
        )
        run = http.post("/api/v1/schedules/csrf-target/trigger", headers=EVIL)
        assert "another origin" in problem(run, 403)
        gone = http.delete("/api/v1/schedules/csrf-target", headers={"Sec-Fetch-Site": "cross-site"})  # fmt: skip
        assert "(Sec-Fetch-Site: cross-site)" in problem(gone, 403)
        # without an Origin (as curl) a text body is still no JSON body
        plain = http.post("/api/v1/schedules", content=BODY, headers={"Content-Type": "text/plain"})
        assert problem(plain, 415) == (
            "POST with Content-Type text/plain refused: send the body as JSON with "
            "Content-Type: application/json"
        )
        assert appended(stack, before)[1] == []
        assert http.get("/api/v1/schedules/csrf").status_code == 404
        assert http.get("/api/v1/runs", params={"schedule": "csrf-target"}).json()["runs"] == []


def test_a_rebound_name_reads_nothing_not_even_the_live_stream(stack: Stack) -> None:
    port = stack.url.rsplit(":", 1)[1]
    with stack.client(None) as http:
        for path in ("/api/v1/schedules", "/api/v1/events", "/", "/readyz"):
            said = http.get(path, headers={"Host": f"evil.example:{port}"})
            assert problem(said, 421) == (
                f"Host 'evil.example:{port}' is not a name this gateway serves (localhost, IP "
                "addresses, its --host); if it is yours, serve it with "
                "`jetcron web --allowed-host evil.example`"
            ), path
        assert http.get("/api/v1/schedules", headers={"Host": f"localhost:{port}"}).is_success


def test_its_own_pages_and_clients_without_origin_still_change(stack: Stack) -> None:
    with stack.client(None) as http:
        own = {"Origin": stack.url, "Sec-Fetch-Site": "same-origin"}
        made = http.post("/api/v1/schedules", content=BODY.replace("csrf", "own"),
                         headers={**own, "Content-Type": "application/json"})  # fmt: skip
        assert made.status_code == 201, made.text
        assert http.post("/api/v1/schedules/own/pause", headers={"Origin": stack.url}).is_success
        assert (
            create(http, "curl-made", spec=YEARLY).status_code == 201
        )  # why: no Origin, a JSON body
        assert http.post("/api/v1/schedules/curl-made/trigger").status_code == 202


def test_no_cors_headers_are_sent(stack: Stack) -> None:
    with stack.client(None) as http:
        preflight = http.options(
            "/api/v1/schedules",
            headers={**EVIL, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"},
        )  # fmt: skip
        answers = [preflight, http.get("/api/v1/schedules", headers=EVIL)]
        for answer in answers:
            assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
        assert preflight.status_code == 405  # why: no preflight is ever granted


SENT_ALWAYS = {
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
"""What every answer says to browsers: no page frames it (clickjacking), its own files only."""

ANSWERS = [
    # (id, method, path, headers, status)
    ("console", "GET", "/", {}, 200),
    ("script", "GET", "/static/form.js", {}, 200),
    ("api-docs", "GET", "/api/v1/docs", {}, 200),
    ("openapi", "GET", "/api/v1/openapi.json", {}, 200),
    ("list", "GET", "/api/v1/schedules", {}, 200),
    ("not-found", "GET", "/api/v1/schedules/no-such", {}, 404),
    ("no-route", "GET", "/nowhere", {}, 404),
    ("probe", "GET", "/readyz", {}, 200),
    ("rebound", "GET", "/", {"Host": "evil.example"}, 421),
    ("foreign-change", "POST", "/api/v1/schedules", EVIL, 403),
    ("text-body", "POST", "/api/v1/schedules", {"Content-Type": "text/plain"}, 415),
    ("invalid-body", "POST", "/api/v1/schedules", {"Content-Type": "application/json"}, 400),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
def test_every_answer_forbids_framing(
    stack: Stack, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    with stack.client(None) as http:
        said = http.request(
            method, path, headers=headers, content=b"{" if method == "POST" else None
        )
    assert said.status_code == status, said.text
    assert {k: said.headers.get(k) for k in SENT_ALWAYS} == SENT_ALWAYS


def test_the_live_stream_forbids_framing_too(stack: Stack) -> None:
    with stack.client(None) as http, http.stream("GET", "/api/v1/events") as said:
        assert said.headers["content-type"].startswith("text/event-stream")
        assert {k: said.headers.get(k) for k in SENT_ALWAYS} == SENT_ALWAYS


async def test_an_unexpected_error_forbids_framing_too() -> None:
    """Starlette answers an exception no handler took outside every middleware; the guard
    answers it first, with its headers, and the exception still reaches the server's log."""
    gateway = Gateway(ConnectOptions(), Tokens(), local_user="t", served=NAMES)
    app = create_app(gateway, connect=False)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{OWN}") as http:
        with pytest.raises(RuntimeError, match="a bug"):
            await http.get("/boom")
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{OWN}") as http:
        said = await http.get("/boom")
    assert said.status_code == 500
    assert said.json()["detail"] == "internal error: the gateway's log says what failed"
    assert {k: said.headers.get(k) for k in SENT_ALWAYS} == SENT_ALWAYS
