"""The console's schedule page past its newest 50 runs ("Older runs", the API's before-cursor)
in a real headless Chromium; the stack and the browser as in test_console.py (a stack of this
module's own). Screenshots at 390 and 1280 px go where test_console.py puts them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_console import CHROMIUM, browser, shots, signed_in  # noqa: F401 - fixtures
from webstack import Stack, create, run_stack, until

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("console-pages"))


def run_ids(http: httpx.Client, name: str) -> list[str]:
    """The schedule's runs, newest first, as the API pages them (all of them)."""
    answer = http.get("/api/v1/runs", params={"schedule": name, "limit": 1000})
    return [r["run_id"] for r in answer.json()["runs"]]


def statuses(http: httpx.Client, name: str) -> list[str]:
    answer = http.get("/api/v1/runs", params={"schedule": name, "limit": 1000})
    return [r["status"] for r in answer.json()["runs"]]


def shown_ids(page: object) -> list[str]:
    rows = page.locator("#schedule-runs tbody tr")  # type: ignore[attr-defined]
    return [str(k) for k in rows.evaluate_all("rs => rs.map(r => r.dataset.key)")]


def test_older_runs_page_past_the_newest_fifty(
    browser: object,  # noqa: F811
    stack: Stack,
    shots: Path,  # noqa: F811
) -> None:
    with stack.client() as http:
        assert create(http, "many-runs", command=["true"], overlap="allow").status_code == 201
        for _ in range(62):
            assert http.post("/api/v1/schedules/many-runs/trigger").status_code == 202
        until(lambda: statuses(http, "many-runs"), lambda s: s == ["succeeded"] * 62, 30)
        page = signed_in(browser, stack, 1280, 900)
        page.goto(f"{stack.url}/#/s/many-runs")
        page.wait_for_selector("#live.live")
        page.wait_for_selector("#older-runs:visible")
        assert shown_ids(page) == run_ids(http, "many-runs")[:50]
        page.locator("#older-runs").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "older-runs-button.png"))

        page.click("#older-runs")
        page.wait_for_selector("#runs-count:has-text('the newest 62 runs')")
        assert shown_ids(page) == run_ids(http, "many-runs")
        assert page.locator("#older-runs").is_hidden()  # no older run left
        page.screenshot(path=str(shots / "older-runs.png"), full_page=True)

        # a live redraw keeps the older page and puts the new run on top
        http.post("/api/v1/schedules/many-runs/trigger")
        until(lambda: shown_ids(page), lambda ids: len(ids) == 63)
        assert shown_ids(page) == run_ids(http, "many-runs")
        assert page.locator("#older-runs").is_hidden()
        page.close()

        phone = signed_in(browser, stack, 390, 844)
        phone.goto(f"{stack.url}/#/s/many-runs")
        phone.wait_for_selector("#older-runs:visible")
        phone.locator("#older-runs").scroll_into_view_if_needed()
        phone.screenshot(path=str(shots / "older-runs-button-390.png"))
        phone.click("#older-runs")
        phone.wait_for_selector("#runs-count:has-text('the newest 63 runs')")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        phone.locator("#runs-count").scroll_into_view_if_needed()
        phone.screenshot(path=str(shots / "older-runs-390.png"))
        phone.close()


def test_notifications_and_calendars_pages_list_what_the_cli_lists(
    browser: object,  # noqa: F811
    stack: Stack,
    shots: Path,  # noqa: F811
) -> None:
    with stack.client() as http:
        hook = {"name": "ops-hook", "webhook": "https://hooks.example/jetcron", "on": ["failure"]}
        assert http.post("/api/v1/notifications", json=hook).status_code == 201
        bus = {"name": "reef-bus", "subject": "reef.alerts", "tags": ["reef"]}
        assert http.post("/api/v1/notifications", json=bus).status_code == 201
        maint = {"name": "maint", "tz": "Europe/Berlin", "windows": ["0 2 * * sun for 4h"],
                 "dates": ["2026-12-24", "2026-12-31"], "description": "patch night"}  # fmt: skip
        assert http.post("/api/v1/calendars", json=maint).status_code == 201
        assert create(http, "cal-user", exclude=["maint"]).status_code == 201
    for width, height in ((1280, 900), (390, 844)):
        page = signed_in(browser, stack, width, height)
        page.click("nav a:has-text('Notifications')")
        hook_row = page.locator("tr[data-key='ops-hook']")
        hook_row.wait_for()
        assert "https://hooks.example/jetcron" in hook_row.inner_text()
        assert "failure" in hook_row.locator("td[data-label='On']").inner_text()
        assert hook_row.locator("td[data-label='For']").inner_text() == "all"
        assert hook_row.locator("td[data-label='State']").inner_text() == "ok"
        reef = page.locator("tr[data-key='reef-bus']")
        assert reef.locator("td[data-label='For']").inner_text() == "tag:reef"
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(shots / f"notifications-{width}.png"), full_page=True)

        page.click("nav a:has-text('Calendars')")
        row = page.locator("tr[data-key='maint']")
        row.wait_for()
        covers = row.locator("td[data-label='Covers']").inner_text()
        assert covers == "0 2 * * sun for 4h; 2 date(s)", covers
        assert row.locator("td[data-label='Zone']").inner_text() == "Europe/Berlin"
        assert "patch night" in row.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(shots / f"calendars-{width}.png"), full_page=True)
        row.locator("a:has-text('cal-user')").click()
        page.wait_for_selector("h1:has-text('cal-user')")
        page.close()
