"""A schedule page in a real headless Chromium (newcomer20a): its next fires move on as they
pass, Run now says which run it started, focus stays on the toolbar after Pause, one tab stop
per run row, and a schedule with no fire yet says so. A stack of this module's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_console import CHROMIUM, browser, confirm, signed_in  # noqa: F401 - browser is a fixture
from webstack import Stack, create, run_stack, until

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")

YEARLY = "0 3 1 1 *"
TABBABLE = "a[href]:not([tabindex='-1']), button, input, [tabindex]:not([tabindex='-1'])"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("console-feedback"))


def first_next_fire(page: object) -> str:
    return str(page.locator("#next-fires tr[data-key]").first.get_attribute("data-key"))  # type: ignore[attr-defined]


def test_next_fires_move_on_as_they_pass(browser: object, stack: Stack) -> None:  # noqa: F811
    """#1: Next fires and the timeline were drawn only on schedule events: after a minute the
    page listed past fires as the next ones, under a green "live"."""
    with stack.client() as http:
        assert create(http, "every-2s", spec="@every 2s", command=["true"]).status_code == 201
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/s/every-2s")
    page.wait_for_selector("#next-fires tr[data-key]")
    before = first_next_fire(page)
    page.wait_for_function(
        "(was) => { const row = document.querySelector('#next-fires tr[data-key]');"
        " return row && row.dataset.key !== was; }",
        arg=before,
        timeout=8_000,
    )
    assert first_next_fire(page) > before
    with stack.client() as http:
        http.post("/api/v1/schedules/every-2s/pause", json={"reason": "enough"})
    page.close()


def test_run_now_says_which_run_it_started(browser: object, stack: Stack) -> None:  # noqa: F811
    """#10: after Confirm nothing said a run started (for an unserved target it never showed)."""
    with stack.client() as http:
        assert create(http, "run-me", spec=YEARLY, target="nobody-here").status_code == 201
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/s/run-me")
    page.click("#do-trigger")
    confirm(page, "try it")
    link = page.locator("#started a")
    link.wait_for()
    with stack.client() as http:
        runs = http.get("/api/v1/runs", params={"schedule": "run-me"}).json()["runs"]
    assert len(runs) == 1
    assert link.get_attribute("href") == f"#/run/{runs[0]['run_id']}"
    assert page.locator("#started").inner_text() == f"Started run {runs[0]['run_id'][:8]}"
    # #3: the run's page names the target no executor serves, and offers no download of nothing
    link.click()
    # why: the run's page by its heading; the schedule's page also lists a target, and while it
    # is still on screen a plain `dl.kv` finds both pages' lists
    page.wait_for_selector(f"h1:has-text('Run {runs[0]['run_id'][:8]}')")
    facts = page.locator("dl.kv").first.inner_text()
    assert "target\nnobody-here" in facts, facts
    page.wait_for_selector("pre.stdout:has-text('(no output)')")
    assert page.locator("a.download").count() == 0
    page.close()


def test_a_search_that_matches_nothing_says_so_and_stays_in_the_address(
    browser: object,  # noqa: F811
    stack: Stack,
) -> None:
    """#7: a search that matched nothing said "No schedules yet. Create one"; filters were not
    in the address, so a filtered view could not be reloaded or shared."""
    with stack.client() as http:
        assert create(http, "searched-for", spec=YEARLY).status_code == 201
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/")
    page.wait_for_selector("tr[data-key='searched-for']")
    page.fill("#filter-q", "zzz")
    assert page.locator("#no-match").inner_text() == "No schedule matches 'zzz'."
    assert page.evaluate("location.hash") == "#/?q=zzz"
    page.reload()
    assert page.locator("#no-match").inner_text() == "No schedule matches 'zzz'."
    assert page.input_value("#filter-q") == "zzz"
    page.goto(f"{stack.url}/#/runs?schedule=searched-for&status=failed")
    said = page.locator("#no-runs").inner_text()
    assert said == "No run matches schedule 'searched-for' and status failed.", said
    assert page.input_value("#runs-schedule") == "searched-for"
    assert page.input_value("#runs-status") == "failed"
    page.close()


def test_times_read_one_way_in_notes_and_columns(browser: object, stack: Stack) -> None:  # noqa: F811
    """#12: a note carried ISO times with microseconds; #15: a column showed 09:43Z above
    09:43:10Z."""
    page = signed_in(browser, stack, 1280, 900, zone="UTC")
    said = page.evaluate(
        """async () => {
        const dom = await import('/static/dom.js');
        const note = dom.plainTimes('NATS unreachable from 2026-12-03T09:56:53.989132Z to 2026-12-03T09:57:56.179304+00:00');
        const fires = [{ utc: '2026-12-03T09:43:00Z', tz: 'UTC' }, { utc: '2026-12-03T09:43:10Z', tz: 'UTC' }];
        const cells = [...dom.fireTable(fires, 'UTC').querySelectorAll('td')].map((td) => td.textContent);
        return { note, cells, alone: dom.utc('2026-12-03T09:43:00Z') };
    }"""
    )
    assert said["note"] == "NATS unreachable from 2026-12-03 09:56:53Z to 2026-12-03 09:57:56Z"
    assert said["cells"] == ["2026-12-03 09:43:00Z", "2026-12-03 09:43:10Z"]
    assert said["alone"] == "2026-12-03 09:43Z"  # a time on its own keeps the short form
    page.close()


def test_focus_lands_on_the_button_drawn_after_pause(browser: object, stack: Stack) -> None:  # noqa: F811
    """#13: after a confirmed Pause the button was replaced and focus was left on <body>."""
    with stack.client() as http:
        assert create(http, "focus-me", spec=YEARLY).status_code == 201
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/s/focus-me")
    page.focus("#do-pause")
    page.keyboard.press("Enter")
    confirm(page, "keyboard")
    page.wait_for_selector("h1 .badge.paused")
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.id === 'do-resume'"
    )
    page.close()


def test_a_run_row_is_one_tab_stop(browser: object, stack: Stack) -> None:  # noqa: F811
    """#13: two stops a row (the run, and the page's own schedule) made 100 Tabs past 50 runs."""
    with stack.client() as http:
        assert create(http, "tabbed", spec=YEARLY, command=["true"]).status_code == 201
        for _ in range(3):
            assert http.post("/api/v1/schedules/tabbed/trigger").status_code == 202
        until(
            lambda: http.get("/api/v1/runs", params={"schedule": "tabbed"}).json()["runs"],
            lambda r: len(r) == 3,
        )
    page = signed_in(browser, stack, 1280, 900)
    count = f'(rows) => [...document.querySelectorAll(rows)].map((r) => r.querySelectorAll("{TABBABLE}").length)'
    page.goto(f"{stack.url}/#/s/tabbed")
    page.wait_for_selector("#schedule-runs tr[data-key]")
    assert page.evaluate(count, "#schedule-runs tr[data-key]") == [1, 1, 1]
    page.goto(f"{stack.url}/#/runs")
    page.wait_for_selector("#runs tr[data-key]")
    stops = page.evaluate(count, "#runs tr[data-key]")
    assert stops and set(stops) == {1}, stops
    page.close()


def test_a_schedule_with_no_fire_yet_says_so(browser: object, stack: Stack) -> None:  # noqa: F811
    """#15: a new schedule's timeline read "09:44:50Z … 09:44:50Z" and "0 fires since"."""
    with stack.client() as http:
        assert create(http, "brand-new", spec=YEARLY).status_code == 201
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/s/brand-new")
    said = page.locator("#no-fires").inner_text()
    assert said.startswith("No fires yet since "), said
    page.close()


def test_a_late_page_does_not_draw_over_the_one_gone_to(browser: object, stack: Stack) -> None:  # noqa: F811
    """Found with #4: a Health page whose answer came late drew itself over Executors."""
    page = signed_in(browser, stack, 1280, 900)
    held: list[object] = []

    def hold_first(route: object) -> None:
        if held:
            route.continue_()  # type: ignore[attr-defined]
        else:
            held.append(route)

    page.route("**/api/v1/health", hold_first)
    page.goto(f"{stack.url}/#/health")
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert held
    page.goto(f"{stack.url}/#/calendars")
    page.wait_for_selector("#main h1:has-text('Calendars')")
    held[0].continue_()  # type: ignore[attr-defined]
    page.wait_for_timeout(1000)
    assert page.locator("#main h1").inner_text() == "Calendars"
    page.close()


def test_the_run_page_status_names_the_attempt(browser: object, stack: Stack) -> None:  # noqa: F811
    """#15: the run page said "status failed" where the CLI says "failed (attempt 2)"."""
    with stack.client() as http:
        made = create(http, "twice", spec=YEARLY, command=["false"], retries=1, retry_backoff="1s")
        assert made.status_code == 201, made.text
        run_id = http.post("/api/v1/schedules/twice/trigger").json()["run_id"]
        run = until(
            lambda: http.get(f"/api/v1/runs/{run_id}").json(), lambda r: r["status"] == "failed", 30
        )
    assert run["attempt"] == 2
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/run/{run_id}")
    page.wait_for_selector("dl.kv")
    facts = page.locator("dl.kv").inner_text()
    assert "status\nfailed (attempt 2)" in facts, facts
    page.close()


def test_the_login_page_asks_only_who_is_signed_in(browser: object, stack: Stack) -> None:  # noqa: F811
    """#15: before the login page was drawn the console also asked /views (a second 401)."""
    page = browser.new_page()  # type: ignore[attr-defined]
    asked: list[str] = []
    page.on("request", lambda r: "/api/v1/" in r.url and asked.append(r.url.split("/api/v1")[1]))
    page.goto(stack.url + "/")
    page.wait_for_selector("#token")
    page.wait_for_timeout(1000)
    assert asked == ["/whoami"], asked
    page.close()
