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
