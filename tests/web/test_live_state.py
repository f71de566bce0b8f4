"""The live stream says when the gateway loses NATS and when it is back: the console's "live"
badge turns to "reconnecting…" within seconds of an outage, and back to "live" after it.

nats-server is stopped and started again on the same port and store (the stack's services
and the gateway reconnect), so this module has a stack of its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

import httpx
import pytest
from test_console import CHROMIUM, browser, shots, signed_in  # noqa: F401 - fixtures
from test_sse import messages
from webstack import TOKENS, Stack, create, run_stack, until

pytestmark = pytest.mark.timeout(120)
SHOWN_WITHIN_S = 5.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("live-state"))


class Follower(threading.Thread):
    """Reads /api/v1/events in the background: the state messages and events, timestamped."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.got: list[tuple[float, str, dict[str, object]]] = []
        self.done = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {TOKENS['alice'][1]}"}
        timeout = httpx.Timeout(5, read=60)
        with httpx.Client(base_url=self.stack.url, headers=headers, timeout=timeout) as http:
            with http.stream("GET", "/api/v1/events") as r:
                for message in messages(r):
                    self.got.append(
                        (time.monotonic(), message["event"], json.loads(message["data"]))
                    )
                    if self.done.is_set():
                        return

    def states(self) -> list[bool]:
        return [bool(data["live"]) for _, kind, data in self.got if kind == "state"]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
def test_the_badge_turns_to_reconnecting_during_an_outage_and_back(
    browser: object,  # noqa: F811 - the fixture imported from test_console
    stack: Stack,
    shots: Path,  # noqa: F811
) -> None:
    assert stack.server is not None
    with stack.client() as http:
        assert create(http, "live-lights").status_code == 201
    follower = Follower(stack)
    follower.start()
    until(follower.states, lambda s: s == [True])
    page = signed_in(browser, stack, 390, 844)
    page.goto(f"{stack.url}/#/runs")  # type: ignore[attr-defined]
    page.wait_for_selector("#live.live")  # type: ignore[attr-defined]

    stack.server.stop()
    stopped = time.monotonic()
    page.wait_for_selector("#live.offline:has-text('reconnecting')", timeout=SHOWN_WITHIN_S * 1000)  # type: ignore[attr-defined]
    down = until(lambda: [d for t, k, d in follower.got if k == "state" and not d["live"]], bool, 5)
    assert down[0]["since"] and "NATS" in str(down[0]["problem"]), down
    assert [t for t, k, d in follower.got if k == "state" and not d["live"]][
        0
    ] - stopped < SHOWN_WITHIN_S
    title = page.get_attribute("#live", "title")  # type: ignore[attr-defined]
    assert title and "NATS is unreachable" in title, title
    # the banner at the top says it too, from the same state message
    # newcomer20a #5: once, however many parts noticed it (the stream and the views' probe)
    page.wait_for_timeout(6_000)  # type: ignore[attr-defined]  # why: past a check of the views
    said = page.locator("#stale").inner_text()  # type: ignore[attr-defined]
    assert said.startswith("NATS is unreachable since ") and said.count("NATS") == 1, said
    page.screenshot(path=str(shots / "stale-outage-390.png"))  # type: ignore[attr-defined]
    with stack.client() as http:  # a new stream cannot start now: a 503 that says why
        refused = http.get("/api/v1/events")
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"

    stack.server.restart()
    page.wait_for_selector("#live.live", timeout=30_000)  # type: ignore[attr-defined]
    page.wait_for_selector("#stale", state="hidden", timeout=30_000)  # type: ignore[attr-defined]
    # why: a second "not live" may come while still down (the log read failing after NATS)
    until(follower.states, lambda s: [k for k, _ in groupby(s)] == [True, False, True], 30)

    # the same stream goes on with what happens after the outage
    with stack.client() as http:
        until(
            lambda: http.post("/api/v1/schedules/live-lights/trigger").status_code,
            lambda s: s == 202,
            30,
        )
    follower.done.set()
    until(lambda: [k for _, k, _ in follower.got], lambda kinds: "run.triggered" in kinds, 15)
    page.close()  # type: ignore[attr-defined]


def test_stopping_the_gateway_ends_the_open_live_streams(tmp_path: Path) -> None:
    running = run_stack(tmp_path)
    stack = next(running)
    follower = Follower(stack)
    follower.start()
    until(follower.states, lambda s: s == [True])
    asked = time.monotonic()
    running.close()  # why: stops the services and the gateway as Ctrl-C does (and waits 20 s)
    # why: a console tab left open kept `jetcron web` and `up` from stopping (uvicorn waits
    # for every response, and a live stream never ends by itself)
    assert time.monotonic() - asked < 5
    follower.join(5)
    assert not follower.is_alive()


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
def test_the_badge_says_when_the_gateway_itself_hangs(
    browser: object,  # noqa: F811 - the fixture imported from test_console
    stack: Stack,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    web = subprocess.Popen(
        [sys.executable, "-m", "jetcron", "web", "--port", "0", "--server", stack.nats_url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        assert web.stdout is not None
        url = next(m[0] for line in web.stdout if (m := re.search(r"http://[\d.:]+", line)))
        page = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
        page.goto(f"{url}/#/runs")  # why: no token file: the local user, no sign-in
        page.wait_for_selector("#live.live")
        web.send_signal(
            signal.SIGSTOP
        )  # why: a hang that closes nothing (a frozen host, a dead NAT)
        stopped = time.monotonic()
        page.wait_for_selector("#live.offline", timeout=30_000)
        assert time.monotonic() - stopped < 16  # 12 s of silence, then the next check
        assert "sent nothing" in (page.get_attribute("#live", "title") or "")
        web.send_signal(signal.SIGCONT)
        page.wait_for_selector("#live.live", timeout=30_000)
        page.close()
    finally:
        web.send_signal(signal.SIGCONT)
        web.terminate()
        web.wait(20)
