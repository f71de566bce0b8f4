"""The console when parts fail or the address is wrong (newcomer21a #1, #3, #7, #13, #14): the
live stream survives a page opened while NATS is frozen, no answer from the gateway is said in
our words (never "Failed to fetch") and a page keeps what it had, bad filters in the address
are said to be dropped, the runs page's schedule filter asks no name letter by letter, the
output viewer says how much of a capped stream it kept. A real stack (nats-server, serve,
gateway, an executor) and a headless Chromium; "no answer at all" is the browser's own network
failure (Playwright aborts the request), as when the gateway is gone.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_console import CHROMIUM, browser, signed_in  # noqa: F401 - browser is a fixture
from webstack import TOKENS, Stack, create, run_stack, start_executor, until, until_listed

from conftest import freeze

SRC = Path(__file__).resolve().parents[2] / "src"
pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("console-faults"))


def test_a_page_opened_while_nats_is_frozen_goes_live_again(browser: object, stack: Stack) -> None:  # noqa: F811
    """#1: the first failed connect of the live stream threw (`down` was null) and the stream
    stopped for good: no rows, no badge, after NATS was back."""
    with stack.client() as http:
        assert create(http, "after-freeze", command=["true"]).status_code == 201
        run_id = http.post("/api/v1/schedules/after-freeze/trigger").json()["run_id"]
    page = signed_in(browser, stack, 1280, 900)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))  # type: ignore[attr-defined]
    page.wait_for_selector("#live.live")
    assert stack.server is not None and stack.server.pid is not None
    freeze(stack.server)
    try:
        page.goto(f"{stack.url}/#/runs")  # type: ignore[attr-defined]
        page.wait_for_selector("#live.offline", timeout=30_000)  # type: ignore[attr-defined]
        page.wait_for_timeout(3_000)  # type: ignore[attr-defined] # why: a reconnect or two
    finally:
        os.kill(stack.server.pid, signal.SIGCONT)
    page.wait_for_selector("#live.live", timeout=40_000)  # type: ignore[attr-defined]
    # why: back live, the page loads what it could not meanwhile (not at the next run event)
    page.wait_for_selector(f"#runs tr[data-key='{run_id}']", timeout=20_000)  # type: ignore[attr-defined]
    assert errors == [], errors
    page.close()  # type: ignore[attr-defined]


def test_no_answer_from_the_gateway_is_said_in_our_words(browser: object, stack: Stack) -> None:  # noqa: F811
    """#3: a page asked while the gateway was gone read "Failed to fetch", and the runs page
    replaced its rows with it."""
    with stack.client() as http:
        assert create(http, "kept-rows", command=["true"]).status_code == 201
        first = http.post("/api/v1/schedules/kept-rows/trigger").json()["run_id"]
        page = signed_in(browser, stack, 1280, 900)
        page.goto(f"{stack.url}/#/runs")  # type: ignore[attr-defined]
        page.wait_for_selector(f"#runs tr[data-key='{first}']")  # type: ignore[attr-defined]
        page.wait_for_selector("#live.live")  # type: ignore[attr-defined]
        # the live stream stays; the runs it makes the page ask for get no answer
        page.route("**/api/v1/runs?*", lambda route: route.abort())  # type: ignore[attr-defined]
        http.post("/api/v1/schedules/kept-rows/trigger")
        box = page.wait_for_selector("#runs .error")  # type: ignore[attr-defined]
        said = box.inner_text()
        assert "Failed to fetch" not in said and said.startswith(
            "the gateway did not answer at "
        ), said
        assert "your time" in said, said
        assert page.locator(f"#runs tr[data-key='{first}']").count() == 1  # type: ignore[attr-defined]
        page.unroute("**/api/v1/runs?*")  # type: ignore[attr-defined]
        newer = http.post("/api/v1/schedules/kept-rows/trigger").json()["run_id"]
        page.wait_for_selector(f"#runs tr[data-key='{newer}']")  # type: ignore[attr-defined]
        assert page.locator("#runs .error").count() == 0  # type: ignore[attr-defined]
    # a page asked with no answer at all
    page.route("**/api/v1/health", lambda route: route.abort())  # type: ignore[attr-defined]
    page.click("nav a[href='#/health']")  # type: ignore[attr-defined]
    said = page.wait_for_selector("#main .error").inner_text()  # type: ignore[attr-defined]
    assert "Failed to fetch" not in said and said.startswith("the gateway did not answer"), said
    page.close()  # type: ignore[attr-defined]


def test_bad_filters_in_the_address_are_said_dropped(browser: object, stack: Stack) -> None:  # noqa: F811
    """#7: `#/runs?status=bogus`, `#/runs?since=banana` and `#/?state=bogus` showed everything
    without a word."""
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/runs?status=bogus&since=banana")  # type: ignore[attr-defined]
    said = page.wait_for_selector("#dropped-filter").inner_text()  # type: ignore[attr-defined]
    assert said.startswith("Not filtered by status=bogus, since=banana: status is one of "), said
    assert said.endswith("this page filters by schedule and status."), said
    page.goto(f"{stack.url}/#/?state=bogus")  # type: ignore[attr-defined]
    said = page.wait_for_selector("#dropped-filter").inner_text()  # type: ignore[attr-defined]
    assert said == (
        "Not filtered by state=bogus: state is one of active, paused, completed; "
        "this page filters by search and state."
    ), said
    page.goto(f"{stack.url}/#/runs?status=failed")  # type: ignore[attr-defined]
    page.wait_for_selector("#runs")  # type: ignore[attr-defined]
    assert page.locator("#dropped-filter").count() == 0  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_the_runs_schedule_filter_offers_names_and_asks_no_letter(
    browser: object,  # noqa: F811
    stack: Stack,
) -> None:
    """#7: typing `hel` asked for schedule 'h', 'he', 'hel': a 404 each, shown."""
    with stack.client() as http:
        assert create(http, "hello-picked", command=["true"]).status_code == 201
        run_id = http.post("/api/v1/schedules/hello-picked/trigger").json()["run_id"]
    page = signed_in(browser, stack, 1280, 900)
    asked: list[str] = []
    page.on("request", lambda r: "/api/v1/runs?" in r.url and asked.append(r.url))  # type: ignore[attr-defined]
    page.goto(f"{stack.url}/#/runs")  # type: ignore[attr-defined]
    page.wait_for_selector("#runs table")  # type: ignore[attr-defined]
    names = page.eval_on_selector_all("#runs-schedule-names option", "os => os.map(o => o.value)")  # type: ignore[attr-defined]
    assert "hello-picked" in names, names
    asked.clear()
    page.type("#runs-schedule", "hello-pi", delay=120)  # type: ignore[attr-defined]
    page.wait_for_timeout(800)  # type: ignore[attr-defined] # why: past the typing pause
    assert not any("schedule=h" in url for url in asked), asked
    assert page.locator("#runs .error").count() == 0  # type: ignore[attr-defined]
    page.type("#runs-schedule", "cked", delay=50)  # type: ignore[attr-defined] # a name listed
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => [...document.querySelectorAll('#runs tr[data-key]')].every("
        "r => r.textContent.includes('hello-picked'))"
    )
    page.wait_for_selector(f"#runs tr[data-key='{run_id}']")  # type: ignore[attr-defined]
    # a name not listed is asked for on Enter (a deleted schedule's runs), once
    page.fill("#runs-schedule", "gone-long-ago")  # type: ignore[attr-defined]
    page.press("#runs-schedule", "Enter")  # type: ignore[attr-defined]
    said = page.wait_for_selector("#runs .error, #no-runs").inner_text()  # type: ignore[attr-defined]
    assert "gone-long-ago" in said, said
    page.close()  # type: ignore[attr-defined]


def test_a_capped_output_says_how_much_was_kept(browser: object, stack: Stack) -> None:  # noqa: F811
    """#14: a truncated stdout read only "truncated"; a search said nothing of what it found."""
    with stack.client() as http:
        assert create(http, "chatty", command=["seq", "1", "40000"]).status_code == 201
        run_id = http.post("/api/v1/schedules/chatty/trigger").json()["run_id"]
        until(
            lambda: http.get(f"/api/v1/runs/{run_id}").json()["status"],
            lambda s: s == "succeeded",
            30,
        )
        out = http.get(f"/api/v1/runs/{run_id}/output").json()
    assert out["stdout_truncated"], out.keys()
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/run/{run_id}")  # type: ignore[attr-defined]
    said = page.wait_for_selector("[data-truncated=stdout]").inner_text()  # type: ignore[attr-defined]
    kept = len(out["stdout"].encode())
    assert said.strip() == f"[stdout truncated: {kept:,} of {out['stdout_size']:,} bytes kept]", (
        said
    )
    page.fill(".output-search", "39999")  # type: ignore[attr-defined]
    assert page.locator("#output-found").inner_text().strip() == "no match in the output kept"  # type: ignore[attr-defined]
    page.fill(".output-search", "12345")  # type: ignore[attr-defined]
    assert page.locator("#output-found").inner_text().strip() == "1 match"  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_the_banner_words_no_nats_subject(browser: object, stack: Stack) -> None:  # noqa: F811
    """#13: the views' problem read "(JetStream API $JS.API.CONSUMER.CREATE.JETC…" for 5 s."""
    page = signed_in(browser, stack, 1280, 900)
    said = page.evaluate(  # type: ignore[attr-defined]
        """async () => (await import('/static/stale.js')).plainProblem(
            'the projection follower is down (JetStream API $JS.API.CONSUMER.CREATE.JETC')"""
    )
    assert said == "the projection follower is down", said
    page.close()  # type: ignore[attr-defined]


def test_an_outage_keeps_its_start_as_the_stream_comes_back(browser: object, stack: Stack) -> None:  # noqa: F811
    """#13: the banner said "NATS is unreachable since 14:42:15", and once the stream was live
    again "since 14:42:21": the views' own later start. Both sources stand in here (Playwright
    answers /events and /views as the gateway does while NATS is away), then the stream is the
    real one again while the views still say NATS."""
    page = browser.new_page(viewport={"width": 1280, "height": 800}, timezone_id="UTC")  # type: ignore[attr-defined]
    page.set_default_timeout(15_000)
    nats_away = '{"live": false, "cause": "nats", "since": "2026-03-01T12:00:00Z", "problem": "x"}'
    page.route(  # type: ignore[attr-defined]
        "**/api/v1/events?*",
        lambda route: route.fulfill(
            status=200,
            content_type="text/event-stream",
            body=f"event: state\ndata: {nats_away}\n\n",
        ),
    )
    views = '{"current": false, "answering": false, "cause": "nats", "since": "2026-03-01T12:00:30Z", "problem": "x"}'
    page.route(  # type: ignore[attr-defined]
        "**/api/v1/views",
        lambda route: route.fulfill(status=200, content_type="application/json", body=views),
    )
    page.goto(stack.url + "/")  # type: ignore[attr-defined]
    page.fill("#token", TOKENS["alice"][1])  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("#stale p.nats")  # type: ignore[attr-defined]
    page.wait_for_timeout(2_500)  # type: ignore[attr-defined] # why: both sources have said it
    said = page.locator("#stale").inner_text()  # type: ignore[attr-defined]
    assert said.startswith("NATS is unreachable since Mar 1, 12:00 your time"), said
    page.unroute("**/api/v1/events?*")  # type: ignore[attr-defined]
    page.wait_for_selector("#live.live", timeout=20_000)  # type: ignore[attr-defined]
    page.wait_for_timeout(5_500)  # type: ignore[attr-defined] # why: past the next views check
    later = page.locator("#stale").inner_text()  # type: ignore[attr-defined]
    assert later == said, (said, later)
    page.close()  # type: ignore[attr-defined]


def test_a_column_of_times_keeps_seconds_on_a_whole_minute(
    browser: object,  # noqa: F811
    stack: Stack,
) -> None:
    """#11: "Last result" read 14:13:10 above 14:13. Real answers, one of whose last-run
    times is moved to a whole minute (a run cannot be made to end on one)."""
    with stack.client() as http:
        for name in ("col-a", "col-b"):
            assert create(http, name, command=["true"]).status_code == 201
            run_id = http.post(f"/api/v1/schedules/{name}/trigger").json()["run_id"]
            path = f"/api/v1/runs/{run_id}"
            until(lambda p=path: http.get(p).json()["status"], lambda s: s == "succeeded")
    at = {"col-a": "2026-12-03T14:13:00Z", "col-b": "2026-12-03T14:13:10Z"}

    def moved(route: object) -> None:
        answer = route.fetch()  # type: ignore[attr-defined]
        body = answer.json()
        for row in body["schedules"]:
            row["last_run_at"] = at.get(row["name"], row["last_run_at"])
        route.fulfill(response=answer, json=body)  # type: ignore[attr-defined]

    page = signed_in(browser, stack, 1280, 900, zone="UTC")
    page.route("**/api/v1/schedules?*", moved)  # type: ignore[attr-defined]
    page.goto(f"{stack.url}/#/?q=col-")  # type: ignore[attr-defined]
    page.wait_for_selector("tr[data-key='col-b']")  # type: ignore[attr-defined]
    shown = [
        page.locator(f"tr[data-key='{n}'] td[data-label^='Last result'] .small").inner_text()  # type: ignore[attr-defined]
        for n in ("col-a", "col-b")
    ]
    assert shown[0].endswith("14:13:00") and shown[1].endswith("14:13:10"), shown
    page.close()  # type: ignore[attr-defined]


def test_a_shell_job_an_executor_refuses_is_confirmed_first(
    browser: object,  # noqa: F811
    stack: Stack,
    tmp_path: Path,
) -> None:
    """#6: the form saved a shell job for a target whose executor refuses shell strings without
    a word (as the CLI warns), and every run failed. A real executor without --allow-shell."""
    proc = start_executor(stack, tmp_path, "no-sh", "no-sh-pool")
    try:
        with stack.client() as http:
            until_listed(http, "no-sh")
            page = signed_in(browser, stack, 1280, 900)
            page.goto(f"{stack.url}/#/new")  # type: ignore[attr-defined]
            page.fill("#f-name", "refused-shell")  # type: ignore[attr-defined]
            page.select_option("#f-kind", "shell")  # type: ignore[attr-defined]
            page.fill("#f-job", "echo hi | tr a-z A-Z")  # type: ignore[attr-defined]
            page.fill("#f-target", "no-sh-pool")  # type: ignore[attr-defined]
            page.click("#f-save")  # type: ignore[attr-defined]
            text = page.locator("#confirm-text")  # type: ignore[attr-defined]
            text.wait_for()
            said = text.inner_text()
            assert said == (
                "Warning: executor no-sh of target 'no-sh-pool' refuses shell strings: its runs "
                "fail until it is started with --allow-shell. Save it anyway?"
            ), said
            page.keyboard.press("Escape")  # type: ignore[attr-defined] # no: nothing is created
            assert http.get("/api/v1/schedules/refused-shell").status_code == 404
            page.click("#f-save")  # type: ignore[attr-defined]
            text.wait_for()
            page.click("#confirm-ok")  # type: ignore[attr-defined] # yes: saved all the same
            page.wait_for_selector("h1:has-text('refused-shell')")  # type: ignore[attr-defined]
            page.close()  # type: ignore[attr-defined]
    finally:
        proc.terminate()
        proc.wait(30)
