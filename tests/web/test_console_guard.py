"""Other web pages against a token-less gateway (what `jetcron up` serves), in a real headless
Chromium: a page of another site, and one of another port on this host, try the no-cors fetch
that would create and run a command, and a name rebound to 127.0.0.1 tries to read; the
gateway refuses each (the browser sees its 403 or 421) and nothing is created or run, while
the console on the gateway's own origin still triggers and pauses. A page of another origin
cannot show the console in a frame (clickjacking), and the console runs within its own
Content-Security-Policy.

The foreign pages come from a real server on this host under names the browser resolves to
127.0.0.1: Chromium itself (Local Network Access) now stops a page from a public address
reaching 127.0.0.1 at all, which would let this test pass without the guard; a page from this
host or the LAN, or any page in a browser without that rule, is not stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from test_console import ARGS, CHROMIUM, confirm
from test_guard import YEARLY, appended
from webstack import Stack, create, run_stack

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)"),
]
REBOUND = "rebind.test"
"""A name the browser resolves to 127.0.0.1, as an attacker's DNS would after a rebind."""
EVIL = "evil.test"
"""Another site, which the browser also finds on 127.0.0.1 (see the module's docstring)."""

ATTACK = """async ([api, name]) => {
  const text = {mode: "no-cors", method: "POST", headers: {"Content-Type": "text/plain"}};
  const body = JSON.stringify({name, spec: "0 3 1 1 *", command: ["sh", "-c", "echo pwned"]});
  await fetch(`${api}/schedules`, {...text, body});
  await fetch(`${api}/schedules/victim/trigger`, {mode: "no-cors", method: "POST"});
  // why: a JSON body needs a preflight, which the gateway never grants: the fetch fails
  try {
    await fetch(`${api}/schedules`, {method: "POST", headers: {"Content-Type": "application/json"}, body});
    return "cors fetch answered";
  } catch (err) { return "cors fetch refused"; }
}"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("console-guard"), tokens=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        rules = f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1, MAP {EVIL} 127.0.0.1"
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, rules])
        yield chromium
        chromium.close()


class _CatPictures(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<h1>cat pictures</h1>")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def foreign_port() -> Iterator[int]:
    """The port of the other site's pages, served on this host."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CatPictures)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    thread.join(5)


def _foreign_page(browser: Any, origin: str) -> tuple[Any, list[tuple[str, int]]]:
    """A page from `origin` and the statuses of the answers to the requests it sends."""
    page = browser.new_page()
    page.set_default_timeout(15_000)
    seen: list[tuple[str, int]] = []
    page.on("response", lambda r: seen.append((f"{r.request.method} {r.url}", r.status)))
    page.goto(f"{origin}/")
    return page, seen


@pytest.mark.parametrize("host", [EVIL, "127.0.0.1"], ids=["other-site", "other-port"])
def test_a_page_of_another_origin_creates_and_runs_nothing(
    browser: Any, stack: Stack, foreign_port: int, host: str
) -> None:
    with stack.client(None) as http:
        create(http, "victim", spec=YEARLY)
        before, _ = appended(stack)
        page, seen = _foreign_page(browser, f"http://{host}:{foreign_port}")
        name = f"csrf-{host.replace('.', '-')}"

        said = page.evaluate(ATTACK, [f"{stack.url}/api/v1", name])

        assert said == "cors fetch refused"
        api = [(what, status) for what, status in seen if what.split(" ")[1].startswith(stack.url)]
        # why: the browser did send both requests (no-cors) and the gateway answered them: 403
        assert api == [
            (f"POST {stack.url}/api/v1/schedules", 403),
            (f"POST {stack.url}/api/v1/schedules/victim/trigger", 403),
        ], seen
        page.close()
        assert appended(stack, before)[1] == []
        assert http.get(f"/api/v1/schedules/{name}").status_code == 404
        assert http.get("/api/v1/runs", params={"schedule": "victim"}).json()["runs"] == []


FORM = """([action, name]) => {
  // the classic: a text/plain form whose one field reads as a JSON body
  const form = Object.assign(document.createElement("form"),
    {method: "POST", action, enctype: "text/plain"});
  const field = Object.assign(document.createElement("input"), {type: "hidden",
    name: `{"name": "${name}", "spec": "0 3 1 1 *", "command": ["true"], "description": "`, value: '"}'});
  form.append(field);
  document.body.append(form);
  form.submit();
}"""


def test_a_form_of_another_site_creates_nothing(
    browser: Any, stack: Stack, foreign_port: int
) -> None:
    before, _ = appended(stack)
    page, _ = _foreign_page(browser, f"http://{EVIL}:{foreign_port}")
    with page.expect_navigation() as went:
        page.evaluate(FORM, [f"{stack.url}/api/v1/schedules", "csrf-form"])
    assert went.value.status == 403
    assert "Sec-Fetch-Site: cross-site" in page.inner_text("body")
    page.close()
    assert appended(stack, before)[1] == []


def test_a_rebound_name_gets_no_console_no_answer_and_changes_nothing(
    browser: Any, stack: Stack
) -> None:
    port = stack.url.rsplit(":", 1)[1]
    page = browser.new_page()
    page.set_default_timeout(15_000)
    before, _ = appended(stack)
    loaded = page.goto(f"http://{REBOUND}:{port}/")
    assert loaded is not None and loaded.status == 421
    assert f"--allowed-host {REBOUND}" in page.inner_text("body")
    # why: the page's own origin now, so the browser would let it read the answer
    said = page.evaluate(
        """async () => [
          (await fetch("/api/v1/schedules")).status,
          (await fetch("/api/v1/schedules", {method: "POST",
             headers: {"Content-Type": "application/json"},
             body: JSON.stringify({name: "rebound", spec: "0 3 1 1 *", command: ["true"]})})).status,
        ]"""
    )
    assert said == [421, 421]
    page.close()
    assert appended(stack, before)[1] == []


def test_the_console_on_its_own_origin_still_changes(browser: Any, stack: Stack) -> None:
    with stack.client(None) as http:
        create(http, "own-console", spec=YEARLY)
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(stack.url + "/#/s/own-console")
    page.wait_for_selector(".live")
    page.click("#do-trigger")
    confirm(page, "from the console")
    page.locator("#schedule-runs tr:has(.badge.succeeded)").first.wait_for()
    page.click("#do-pause")
    confirm(page, "pause it")
    page.wait_for_selector("h1 .badge.paused")
    page.close()


FRAME = """([src]) => new Promise((done) => {
  const frame = Object.assign(document.createElement("iframe"), {src, width: 800, height: 600});
  frame.addEventListener("load", () => done("loaded"), {once: true});
  document.body.append(frame);
})"""


@pytest.mark.parametrize("host", [EVIL, "127.0.0.1"], ids=["other-site", "other-port"])
def test_a_page_of_another_origin_cannot_frame_the_console(
    browser: Any, stack: Stack, foreign_port: int, host: str
) -> None:
    with stack.client(None) as http:
        create(http, "framed", spec=YEARLY)
    page, seen = _foreign_page(browser, f"http://{host}:{foreign_port}")
    # the newcomer's clickjacking: the console in a (see-through) frame over a decoy button
    assert page.evaluate(FRAME, [f"{stack.url}/#/s/framed"]) == "loaded"
    assert (f"GET {stack.url}/", 200) in seen  # why: the browser asked; it then showed nothing
    framed = page.frames[1]
    # why: under load the frame's URL is filled in a moment after its load event
    for _ in range(100):
        if framed.url:
            break
        page.wait_for_timeout(50)
    assert framed.url.startswith("chrome-error://"), framed.url
    assert framed.query_selector("#main") is None
    assert framed.query_selector("#do-pause") is None
    page.close()


WATCH = """window.violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));"""
TOUR = [
    ("#/", "h1:has-text('Schedules')"), ("#/s/toured", "#schedule-runs .badge.succeeded"),
    ("#/edit/toured", "#preview td"), ("#/new", "h1:has-text('New schedule')"),
    ("#/runs", "h1:has-text('Runs')"), ("#/health", "#healthy"),
    ("#/executors", "h1:has-text('Executors')"), ("#/notifications", "h1:has-text('Notifications')"),
    ("#/calendars", "h1:has-text('Calendars')"),
]  # fmt: skip


def test_the_console_runs_within_its_content_security_policy(browser: Any, stack: Stack) -> None:
    with stack.client(None) as http:
        create(http, "toured", spec=YEARLY)
        assert http.post("/api/v1/schedules/toured/trigger").status_code == 202
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.add_init_script(WATCH)
    page.goto(stack.url + "/")
    for where, shown in TOUR:
        page.evaluate("(where) => { location.hash = where; }", where)
        page.wait_for_selector(shown)
    page.evaluate("() => { location.hash = '#/s/toured'; }")
    page.wait_for_selector("svg")  # the schedule's charts (their colours set from script)
    page.locator("#schedule-runs tr:has(.badge.succeeded)").first.click()
    page.wait_for_selector("#run-output pre.stdout:has-text('hello from toured')")
    assert page.evaluate("window.violations") == []
    page.goto(stack.url + "/api/v1/docs")
    page.wait_for_selector("h1:has-text('jetcron')")
    assert page.evaluate("window.violations") == []
    page.close()
