"""The banner at the top of the console's pages says when what they show may be out of date:
the scheduler's views not answering (its `serve` stopped) or answering from views behind the
log, since when and why; it goes once they are current. GET /api/v1/views says the same.

A real nats-server, `jetcron serve` and `jetcron web` (subprocesses, so serve can be stopped
and started again) and a headless Chromium. Views behind the log cannot be made on demand with
a real service, so while serve is stopped a stand-in answers on the real NATS every query the
page it is tested on asks (`due`, the views' probe, and the Executors page's `health` and
`runs`), the way the projection service marks a stale answer (log/requests.stale_headers).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from test_console import CHROMIUM, browser, shots  # noqa: F401 - fixtures
from webstack import until

from conftest import require_nats_server
from jetcron import subjects
from jetcron.log.requests import stale_headers
from jetcron.server import NatsServer

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)"),
]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
SINCE = "2026-03-01T12:00:00Z"


class Services:
    """nats-server, a `jetcron serve` that can be stopped and started, and `jetcron web`."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self.serve: subprocess.Popen[str] | None = None
        self.web: subprocess.Popen[str] | None = None
        self.url = ""
        self.server: NatsServer | None = None

    def start_serve(self) -> None:
        command = [sys.executable, "-m", "jetcron", "serve", "--server", self.nats_url]
        self.serve = subprocess.Popen(command, env=ENV, text=True, stderr=subprocess.DEVNULL)

    def stop_serve(self) -> None:
        assert self.serve is not None
        self.serve.send_signal(signal.SIGTERM)
        self.serve.wait(30)
        self.serve = None

    def start_web(self) -> None:
        command = [sys.executable, "-m", "jetcron", "web", "--port", "0", "--server", self.nats_url]
        self.web = subprocess.Popen(
            command, env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert self.web.stdout is not None
        self.url = next(
            m[0] for line in self.web.stdout if (m := re.search(r"http://[\d.:]+", line))
        )
        # why: the gateway logs on; a full pipe would stop it
        threading.Thread(target=self.web.stdout.read, daemon=True).start()

    def views(self) -> dict[str, object]:
        answer = httpx.get(self.url + "/api/v1/views", timeout=15)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        for proc in (self.web, self.serve):
            if proc is not None:
                proc.terminate()
                proc.wait(30)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    require_nats_server()
    with NatsServer(data_dir=tmp_path_factory.mktemp("stale") / "nats") as server:
        running = Services(server.url)
        running.server = server
        try:
            running.start_serve()
            running.start_web()
            until(running.views, lambda v: v["current"], 30)
            yield running
        finally:
            running.stop()


ANSWERS = {"due": b'{"fires": []}', "health": b'{"healthy": true, "problems": []}',
           "runs": b'{"runs": [], "next_before": null}'}  # fmt: skip
"""What the stand-in answers: the probe's query and every one the Executors page asks.
why: it answered only `due`; the page's /health and /runs got an instant "no service" (503)
that the gateway's word on the views followed, so the banner said "not answering" (flaky
under load, by which answer came last)."""


class StaleStandIn(threading.Thread):
    """Answers the queries of ANSWERS as a projection service whose views are behind the log,
    until told to answer as a current one."""

    def __init__(self, nats_url: str) -> None:
        super().__init__(daemon=True)
        self.nats_url, self.current = nats_url, False
        self.ready, self.done = threading.Event(), threading.Event()

    def run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        nc = await nats.connect(self.nats_url)

        def answering(body: bytes) -> Any:
            async def answer(msg: nats.aio.msg.Msg) -> None:
                stale = {} if self.current else stale_headers(SINCE, "1200 event(s) behind the log")
                await nc.publish(msg.reply, body, headers=stale or None)

            return answer

        for view, body in ANSWERS.items():
            await nc.subscribe(subjects.query(view), cb=answering(body))
        self.ready.set()
        while not self.done.is_set():
            await asyncio.sleep(0.1)
        await nc.close()


def banner(page: object) -> str:
    return str(page.locator("#stale").inner_text())  # type: ignore[attr-defined]


def test_the_banner_says_the_views_do_not_answer_and_goes_when_they_do(
    browser: object,  # noqa: F811
    services: Services,
    shots: Path,  # noqa: F811
) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    wide = browser.new_page(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    for p in (page, wide):
        p.goto(f"{services.url}/#/")
        p.wait_for_selector("#live.live")
        assert p.locator("#stale").is_hidden()

    services.stop_serve()
    for p in (page, wide):
        p.wait_for_selector("#stale p.views", timeout=20_000)
    said = banner(page)
    assert said.startswith("The scheduler's views are not answering since "), said
    assert "your time: no jetcron service answered" in said, said
    assert "what this page shows is from before then" in said, said
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(shots / "stale-not-answering-390.png"))
    wide.screenshot(path=str(shots / "stale-not-answering.png"))
    report = services.views()
    assert report["current"] is False and report["answering"] is False and report["since"]

    services.start_serve()
    for p in (page, wide):
        p.wait_for_selector("#stale", state="hidden", timeout=30_000)
    assert services.views() == {"current": True, "answering": True}
    page.close()
    wide.close()


def test_the_banner_blames_nats_when_nats_is_stalled(
    browser: object,  # noqa: F811
    services: Services,
) -> None:
    """newcomer19b F7: a freeze of NATS read "The scheduler's views are not answering"."""
    from conftest import freeze

    page = browser.new_page(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    page.goto(f"{services.url}/#/")
    page.wait_for_selector("#live.live")
    assert services.server is not None and services.server.pid is not None
    freeze(services.server)
    try:
        page.wait_for_selector("#stale p.nats", timeout=30_000)
        said = banner(page)
        report = services.views()
        page.wait_for_timeout(6_000)  # why: past the next check of the views (every 5 s)
        later = banner(page)
    finally:
        os.kill(services.server.pid, signal.SIGCONT)
    # newcomer20a #5: one line, in our words, that does not change every 5 s: it named the
    # probe's query (`due`), said "NATS is unreachable" three times and switched its wording
    assert said.startswith("NATS is unreachable since "), said
    assert said.count("NATS is unreachable") == 1 and "query" not in said, said
    assert said.endswith(
        ": nothing can be read or changed until it is back; this page shows what it had then"
    ), said
    assert later == said, (said, later)
    assert report["cause"] == "nats", report
    page.wait_for_selector("#stale", state="hidden", timeout=30_000)
    page.close()


def test_the_banner_says_the_views_are_behind_the_log_and_since_when(
    browser: object,  # noqa: F811
    services: Services,
    shots: Path,  # noqa: F811
) -> None:
    services.stop_serve()
    stand_in = StaleStandIn(services.nats_url)
    stand_in.start()
    try:
        assert stand_in.ready.wait(10)
        report = until(services.views, lambda v: v["answering"] and not v["current"], 20)
        assert report == {
            "current": False,
            "answering": True,
            "since": SINCE,
            "problem": "1200 event(s) behind the log",
        }
        # an API answer from those views says so too, in the service's header names
        due = httpx.get(services.url + "/api/v1/due", timeout=15)
        assert due.status_code == 200, due.text
        assert due.headers["jetcron-stale-since"] == SINCE
        assert due.headers["jetcron-stale-reason"] == "1200 event(s) behind the log"
        page = browser.new_page(viewport={"width": 1280, "height": 800}, timezone_id="UTC")  # type: ignore[attr-defined]
        page.goto(f"{services.url}/#/executors")
        page.wait_for_selector("#stale p.views")
        said = banner(page)
        assert said == (
            "The scheduler's views are stale since Mar 1, 12:00 your time: "
            "1200 event(s) behind the log; what happened since then may be missing here"
        ), said
        page.screenshot(path=str(shots / "stale-behind.png"))

        stand_in.current = True
        page.wait_for_selector("#stale", state="hidden", timeout=20_000)
        assert "jetcron-stale-since" not in httpx.get(services.url + "/api/v1/due").headers
        page.close()
    finally:
        stand_in.done.set()
        stand_in.join(10)
        services.start_serve()


def test_the_banner_says_in_its_words_since_when_the_gateway_is_gone(
    browser: object,  # noqa: F811
    services: Services,
) -> None:
    """newcomer20a #6: with the gateway down the banner said the browser's "Failed to fetch",
    with no time, beside a second line saying the same."""
    # why: serve, started again by the test before, answers once it has caught up
    until(
        lambda: httpx.get(services.url + "/api/v1/schedules", timeout=15).status_code,
        lambda s: s == 200,
        60,
    )
    page = browser.new_page(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    page.goto(f"{services.url}/#/")
    page.wait_for_selector("#live.live")
    assert services.web is not None
    services.web.terminate()
    services.web.wait(30)
    try:
        page.wait_for_selector("#stale p.gateway", timeout=20_000)
        said = banner(page)
        page.wait_for_timeout(6_000)  # why: past the next check of the views (every 5 s)
        later = banner(page)
    finally:
        services.start_web()
    assert re.fullmatch(
        r"The gateway is unreachable since \w+ \d+, [\d:]+ your time: this page shows what it "
        r"had then; it reconnects by itself",
        said,
    ), said
    assert later == said, (said, later)
    page.close()


def _stream(nats_url: str, delete: bool) -> None:
    """Delete the log's stream (its follower goes down, as in an outage) or make it again."""
    from jetcron.log.stream import EventLog

    async def go() -> None:
        nc = await nats.connect(nats_url)
        event_log = await EventLog(nc).open(create=not delete)
        if delete:
            await event_log.js.delete_stream(event_log.stream)
        await event_log.close()
        await nc.close()

    # why: playwright's sync API keeps an event loop running in this thread
    worker = threading.Thread(target=asyncio.run, args=(go(),))
    worker.start()
    worker.join(30)


def test_a_real_service_whose_follower_is_down_shows_as_stale(
    browser: object,  # noqa: F811
    services: Services,
    shots: Path,  # noqa: F811
) -> None:
    def schedules() -> httpx.Response:
        return httpx.get(services.url + "/api/v1/schedules", timeout=15)

    # why: every GET asks the service (/views may repeat a word up to 5 s old): serve, started
    # again by the test before, is up once it answers, with its stream made
    until(schedules, lambda r: r.status_code == 200 and "jetcron-stale-since" not in r.headers, 30)
    _stream(services.nats_url, delete=True)  # why: the last test: the log is gone after it
    listed = until(schedules, lambda r: "jetcron-stale-since" in r.headers, 30)
    assert "the projection follower is down" in listed.headers["jetcron-stale-reason"]
    report = until(services.views, lambda v: not v["current"], 15)
    assert report["answering"] and "the projection follower is down" in str(report["problem"])
    page = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    page.goto(f"{services.url}/#/")
    page.wait_for_selector("#stale p.views")
    said = banner(page)
    assert said.startswith("The scheduler's views are stale since ") and "follower is down" in said
    page.screenshot(path=str(shots / "stale-follower-down-390.png"))

    _stream(services.nats_url, delete=False)
    page.wait_for_selector("#stale p.views", state="detached", timeout=30_000)
    assert services.views() == {"current": True, "answering": True}
    page.close()
