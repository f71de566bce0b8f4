"""The console's live pages in a real headless Chromium: what they draw while events come
(bursts, a cancel finishing later, a delete), and that a late answer never draws over a newer
one. The stack and the browser as in test_console.py (a stack of this module's own)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from test_console import CHROMIUM, browser, confirm, signed_in  # noqa: F401 - browser is a fixture
from webstack import Stack, create, run_stack, until

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("console-live"))


def test_deleting_from_its_page_shows_the_schedules(browser: object, stack: Stack) -> None:  # noqa: F811
    with stack.client() as http:
        assert create(http, "deleted-here").status_code == 201
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/s/deleted-here")
    page.wait_for_selector("#live.live")  # following the log: its delete event arrives too
    page.click("#do-delete")
    confirm(page, "done with it")
    page.wait_for_selector("#schedules")
    page.wait_for_timeout(
        1000
    )  # why: the schedule page's refresh came late and said "no such schedule"
    assert page.locator("#not-found").count() == 0
    assert page.locator("#schedules").count() == 1
    page.close()


def test_a_cancelled_run_shows_cancelled_on_its_page(browser: object, stack: Stack) -> None:  # noqa: F811
    with stack.client() as http:
        assert create(http, "long-sleep", command=["sleep", "60"]).status_code == 201
        run_id = http.post("/api/v1/schedules/long-sleep/trigger").json()["run_id"]
        until(lambda: http.get(f"/api/v1/runs/{run_id}").json()["status"], lambda s: s == "running")
    page = signed_in(browser, stack, 390, 844)
    page.goto(f"{stack.url}/#/run/{run_id}")
    page.wait_for_selector("h1 .badge.running")
    page.wait_for_selector("#live.live")
    page.click("#cancel-run")
    confirm(page, "too long")
    # why: the executor stops the job after the request was answered; the page follows the run
    page.wait_for_selector("h1 .badge.cancelled", timeout=20_000)
    assert page.locator("#cancel-run").count() == 0
    page.close()


def test_the_runs_page_updates_while_events_keep_coming(browser: object, stack: Stack) -> None:  # noqa: F811
    with stack.client() as http:
        assert create(http, "busy-bee", command=["true"]).status_code == 201
        page = signed_in(browser, stack, 1280, 900)
        page.goto(f"{stack.url}/#/runs")
        page.wait_for_selector("#live.live")
        first, shown = None, False
        deadline = time.monotonic() + 8
        # why: a trigger every ~0.1 s keeps events closer than the page's 300 ms pause for
        # redrawing; it must draw anyway (at least every 2 s), not wait for a quiet moment
        while time.monotonic() < deadline and not shown:
            run_id = http.post("/api/v1/schedules/busy-bee/trigger").json()["run_id"]
            first = first or run_id
            time.sleep(0.1)
            shown = page.locator(f"#runs tr[data-key='{first}']").count() > 0
    assert shown, "the runs page did not update during a burst of 8 s"
    page.close()


def test_a_schedule_page_shows_a_change_that_came_with_runs(browser: object, stack: Stack) -> None:  # noqa: F811
    with stack.client() as http:
        assert create(http, "paused-amid-runs", command=["true"]).status_code == 201
        page = signed_in(browser, stack, 1280, 900)
        page.goto(f"{stack.url}/#/s/paused-amid-runs")
        page.wait_for_selector("#live.live")
        # why: the page redraws once per burst of events; it drew only what the last one was
        # about (a run), so the pause before it never showed
        http.post("/api/v1/schedules/paused-amid-runs/pause", json={"reason": "amid runs"})
        http.post("/api/v1/schedules/paused-amid-runs/trigger")
    page.wait_for_selector("h1 .badge.paused", timeout=5_000)
    page.wait_for_selector("#schedule-runs tr[data-key]")
    page.close()


def test_an_older_answer_does_not_replace_the_filtered_list(browser: object, stack: Stack) -> None:  # noqa: F811
    with stack.client() as http:
        for name in ("filter-apple", "filter-banana"):
            assert create(http, name).status_code == 201
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/")
    page.wait_for_selector("tr[data-key='filter-apple']")
    held: list[object] = []
    # why: hold the answer for "filter" until the one for "filter-b" is shown (a slow answer)
    page.route(lambda url: url.endswith("q=filter&limit=500"), lambda route: held.append(route))
    page.fill("#filter-q", "filter")
    for _ in range(50):  # why: playwright hands over the request while it waits, not in a sleep
        if held:
            break
        page.wait_for_timeout(100)
    assert held
    page.fill("#filter-q", "filter-b")
    page.wait_for_selector("tr[data-key='filter-apple']", state="detached")
    held[0].continue_()  # type: ignore[attr-defined]
    page.wait_for_timeout(1000)
    assert page.locator("#schedules tr[data-key]").count() == 1  # only filter-banana
    page.close()


def test_the_preview_shows_the_spec_typed_last(browser: object, stack: Stack) -> None:  # noqa: F811
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/new")
    page.wait_for_selector("#preview td")
    page.fill("#f-tz", "UTC")
    held: list[object] = []
    # why: hold the answer for a bad spec until the good one's is shown (a slow answer)
    page.route(lambda url: "spec=61" in url, lambda route: held.append(route))
    page.fill("#f-spec", "61 * * * *")
    for _ in range(50):  # why: playwright hands over the request while it waits, not in a sleep
        if held:
            break
        page.wait_for_timeout(100)
    assert held
    page.fill("#f-spec", "0 4 * * *")
    page.wait_for_selector("#preview td:has-text('04:00Z')")
    held[0].continue_()  # type: ignore[attr-defined]
    page.wait_for_timeout(1000)
    assert page.locator("#preview .error").count() == 0  # not "invalid spec '61 * * * *'"
    page.close()


def test_the_preview_notes_a_fixed_offset_zone_as_the_cli_does(
    browser: object,  # noqa: F811
    stack: Stack,
) -> None:
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/new")
    page.wait_for_selector("#preview td")
    assert page.locator("#preview .note").count() == 0
    page.fill("#f-tz", "EST")
    note = page.wait_for_selector("#preview p.note")
    assert note.inner_text().startswith("Note: EST is a fixed UTC offset all year")
    page.fill("#f-tz", "America/New_York")
    page.wait_for_selector("#preview p.note", state="detached")
    page.close()


def test_a_retried_runs_page_says_which_attempt_finished_it(browser: object, stack: Stack) -> None:  # noqa: F811
    # why: newcomer18b F6: "started" is attempt 1's; "finished" was attempt 2's, unnamed
    with stack.client() as http:
        body = {"command": ["sh", "-c", "exit 3"], "retries": 1, "retry_backoff": "1s"}
        assert create(http, "twice-failed", **body).status_code == 201
        run_id = http.post("/api/v1/schedules/twice-failed/trigger").json()["run_id"]
        run = until(
            lambda: http.get(f"/api/v1/runs/{run_id}").json(), lambda r: r["status"] == "failed"
        )
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/run/{run_id}")
    page.wait_for_selector("#attempts")
    finished = page.locator("dt:text-is('finished (your time)') + dd").inner_text()
    assert run["attempt"] == 2 and f"(attempt 2 on {run['executor']}, started " in finished
    page.close()


# why: counts the live streams a page holds open (follow() aborts its fetch to stop one)
STREAMS = """
window.__streams = { open: 0, ever: 0 };
const plainFetch = window.fetch;
window.fetch = (url, options = {}) => {
  if (String(url).includes("/api/v1/events")) {
    window.__streams.open += 1;
    window.__streams.ever += 1;
    options.signal?.addEventListener("abort", () => { window.__streams.open -= 1; });
  }
  return plainFetch(url, options);
};
"""


def test_a_page_left_while_it_loads_keeps_no_stream_and_draws_nothing(
    browser: object,  # noqa: F811
    stack: Stack,
) -> None:
    with stack.client() as http:
        assert create(http, "left-early").status_code == 201
        run_id = http.post("/api/v1/schedules/left-early/trigger").json()["run_id"]
    page = signed_in(browser, stack, 1280, 900)
    page.add_init_script(STREAMS)  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]
    page.wait_for_selector("#who:has-text('alice')")
    page.goto(f"{stack.url}/#/runs")
    page.wait_for_selector("#live.live")
    held: list[object] = []
    # why: the first answer of the page left waits until the runs page is shown (a slow answer)
    slow = ["/api/v1/schedules?", "/api/v1/schedules/left-early?"]
    page.route(
        lambda url: any(s in url for s in slow) or url.endswith(f"/api/v1/runs/{run_id}"),
        lambda route: held.append(route),
    )

    def away_while_it_loads(address: str) -> object:
        asked = len(held)
        page.goto(f"{stack.url}/{address}")
        for _ in range(50):  # why: playwright hands over the request while it waits, not in a sleep
            if len(held) > asked:
                break
            page.wait_for_timeout(100)
        assert len(held) > asked, address
        page.goto(f"{stack.url}/#/runs")
        page.wait_for_selector("#live.live")
        # why: the page left's request; the runs page's own list of names is held after it
        return held[asked]

    def runs_page_shown() -> None:
        page.wait_for_timeout(1000)
        assert page.locator("h1").first.inner_text().startswith("Runs")
        assert page.locator("#runs").count() == 1

    # a late error of the page left drew over the runs page shown
    away_while_it_loads("#/").fulfill(  # type: ignore[attr-defined]
        status=503, content_type="application/problem+json", body='{"detail": "slow views"}'
    )
    runs_page_shown()
    assert page.locator(".error:has-text('slow views')").count() == 0
    # so did a late run page and a late form
    for address in (f"#/run/{run_id}", "#/edit/left-early"):
        away_while_it_loads(address).continue_()  # type: ignore[attr-defined]
        runs_page_shown()

    # its live stream, opened once it was ready, ran on beside the runs page's own
    ever = page.evaluate("window.__streams.ever")
    away_while_it_loads("#/").continue_()  # type: ignore[attr-defined]
    page.wait_for_function(f"() => window.__streams.ever >= {ever} + 2")  # the runs page's, its
    assert page.evaluate("window.__streams.open") == 1
    runs_page_shown()
    page.close()
