"""The console's schedule page and schedules table in a real headless Chromium: the whole
definition (every field set, as `schedule show` says it) and the planned skips, each
sparkline of its live schedule only, run errors worded for the web, the confirmations, and
what a read-only role is offered. The stack and the browser as in test_console.py (a stack of
this module's own)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from test_console import CHROMIUM, browser, confirm, shots, signed_in  # noqa: F401 - fixtures
from webstack import Stack, create, run_stack, until

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")

WRITERS = ("#do-pause", "#do-trigger", "#do-delete", "a:has-text('Edit')")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("console-schedule"))


def runs(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    answer = http.get("/api/v1/runs", params={"schedule": name, "current": True})
    return answer.json()["runs"]  # type: ignore[no-any-return]


def test_the_page_shows_every_field_set_and_the_skipped_fire(
    browser: object,  # noqa: F811
    stack: Stack,
    shots: Path,  # noqa: F811
) -> None:
    with stack.client() as http:
        made = http.post("/api/v1/calendars", json={"name": "holidays", "dates": ["2027-12-25"]})
        assert made.status_code == 201, made.text
        rich = {
            "spec": "30 2 * * *", "tz": "Europe/Berlin", "command": ["backup", "--to", "/srv/b k"],
            "cwd": "/srv", "env": {"MODE": "full"}, "secret_env": {"TOKEN": "kv:nope"},
            "retries": 2, "retry_backoff": "30s", "end": "2030-01-01T00:00:00Z", "jitter": "5m",
            "max_runs": 100, "breaker": 5, "max_cpu": 80, "metadata": {"owner": "ops"},
            "expect_success_within": "26h", "exclude": ["holidays"],
        }  # fmt: skip
        assert create(http, "rich", **rich).status_code == 201
        first = http.get("/api/v1/schedules/rich/next", params={"n": 1}).json()["fires"][0]
        skip = {"time": first["utc"], "reason": "tonight"}
        assert http.post("/api/v1/schedules/rich/skip", json=skip).status_code == 200
        fields = http.get("/api/v1/schedules/rich").json()["fields"]
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/s/rich")
    shown = page.locator("#definition > dl > dd[data-field]")
    shown.first.wait_for()
    said = dict(
        shown.evaluate_all("ds => ds.map(d => [d.dataset.field, d.textContent])")  # type: ignore[arg-type]
    )
    assert list(said) == list(fields)  # every field set, in the table's order
    assert said["command"] == "backup --to '/srv/b k'"
    assert said["secret_env"] == "TOKEN=kv:nope"  # a reference, as schedule show says it
    assert said["exclude"] == "holidays" and said["end"].startswith("2030-01-01T00:00:00")
    assert said["retry_backoff"] == "30s" and said["retries"] == "2" and said["max_cpu"] == "80"
    page.click("#defaults summary")
    assert page.locator("#defaults dd[data-field='timeout']").inner_text() == "1h"

    skipped = page.locator(f"#next-fires tr[data-key='{first['utc']}'] .skipped")
    assert skipped.inner_text() == "skipped by alice: tonight"
    assert page.locator("#next-fires .skipped").count() == 1  # the later fires run
    page.screenshot(path=str(shots / "schedule-definition.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()  # why: charts are drawn at the width the page had
    page.locator("#next-fires .skipped").wait_for()
    assert page.locator("#next-fires td[data-label='Skipped']:visible").count() == 1
    page.screenshot(path=str(shots / "schedule-definition-390.png"), full_page=True)
    page.close()


def test_each_sparkline_is_of_its_live_schedule_only(browser: object, stack: Stack) -> None:  # noqa: F811
    with stack.client() as http:
        assert create(http, "again", command=["true"]).status_code == 201
        assert create(http, "busy", command=["true"], overlap="allow").status_code == 201
        for name in ("again", "busy", "busy", "busy"):
            assert http.post(f"/api/v1/schedules/{name}/trigger").status_code == 202
        until(lambda: runs(http, "busy") + runs(http, "again"), lambda rs: len(rs) == 4 and all(
            r["status"] == "succeeded" for r in rs))  # fmt: skip
        assert http.delete("/api/v1/schedules/again").status_code == 204
        assert create(http, "again", command=["false"]).status_code == 201
        page = signed_in(browser, stack, 1280, 900)
        asked: list[str] = []
        page.on("request", lambda r: "/api/v1/runs" in r.url and asked.append(r.url))
        page.goto(f"{stack.url}/#/")
        page.wait_for_selector("#live.live")
        busy = page.locator("[data-spark='busy']")
        until(busy.inner_text, lambda text: text.strip() == "100%")
        assert busy.locator("rect").count() == 3
        again = page.locator("[data-spark='again']")
        assert again.inner_text().strip() == "–"  # the deleted schedule's run is not its own
        assert again.locator("rect").count() == 0

        assert http.post("/api/v1/schedules/again/trigger").status_code == 202
        until(again.inner_text, lambda text: text.strip() == "0%")  # its own failed run, live
        assert again.locator("rect").count() == 1
    for url in asked:  # one bounded question per schedule, of the live schedule
        query = parse_qs(urlsplit(url).query)
        assert query["current"] == ["true"] and query["limit"] == ["20"], url
        assert len(query["schedule"]) == 1, url
    page.close()


async def _another_secret(url: str) -> None:
    import nats

    from jetcron.log import secrets

    nc = await nats.connect(url)
    try:
        await secrets.put(nc, "default", "other", "s3cret")  # why: the bucket exists, 'nope' not
    finally:
        await nc.close()


def test_a_missing_secret_says_no_cli_command(browser: object, stack: Stack) -> None:  # noqa: F811
    # why: in a thread of its own: playwright's sync API keeps an event loop in this one
    putter = threading.Thread(target=asyncio.run, args=(_another_secret(stack.nats_url),))
    putter.start()
    putter.join(10)
    with stack.client() as http:
        assert create(http, "sec4", secret_env={"TOKEN": "kv:nope"}).status_code == 201
        assert http.post("/api/v1/schedules/sec4/trigger").status_code == 202
        failed = until(lambda: runs(http, "sec4"), lambda rs: rs and rs[0]["status"] == "failed")
    error = failed[0]["error"]
    assert "'nope' not found" in error and "jetcron" not in error, error
    assert "secrets bucket" in error
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/s/sec4")
    note = page.locator("#schedule-runs td[data-label='Note']").first
    assert note.inner_text() == error
    page.goto(f"{stack.url}/#/health")  # the failing schedule's problem quotes that error
    detail = page.locator("tr:has(td:text-is('sec4')) td[data-label='Detail']")
    assert "secrets bucket" in detail.inner_text() and "jetcron" not in detail.inner_text()
    page.close()


def test_confirmations_and_a_backfill_run_read_as_the_cli_says_them(
    browser: object,  # noqa: F811
    stack: Stack,
) -> None:
    with stack.client() as http:
        assert create(http, "webmade").status_code == 201
        lines = {"name": "lines", "spec": "0 * * * *", "shell": "cd /x\nrm -rf tmp"}
        assert http.post("/api/v1/schedules", json=lines).status_code == 201
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/s/webmade")
    page.click("#do-trigger")
    assert page.locator("#confirm-text").inner_text() == "Run schedule webmade now?"
    page.keyboard.press("Escape")
    page.click("#do-delete")
    assert "still running is cancelled" in page.locator("#confirm-text").inner_text()
    page.keyboard.press("Escape")
    page.goto(f"{stack.url}/#/s/lines")  # a shell script shows with its lines
    assert page.locator("dd[data-field='shell']").inner_text() == "cd /x\nrm -rf tmp"
    note = page.evaluate(
        """async () => (await import("/static/runs.js")).note(
             {status: "succeeded", backfill_of: "x", triggered_by: "alice", trigger_reason: "fixed"})"""
    )
    assert note == "backfill by alice: fixed"  # as `runs list` says it
    page.close()


def test_an_auditor_is_offered_no_change(browser: object, stack: Stack) -> None:  # noqa: F811
    with stack.client() as http:
        assert create(http, "read-only").status_code == 201
    page = signed_in(browser, stack, 1280, 900, user="aud")
    page.goto(f"{stack.url}/#/s/read-only")
    page.wait_for_selector("h1:has-text('read-only')")
    page.wait_for_selector("#live.live")
    assert [w for w in WRITERS if page.is_visible(w)] == []
    page.goto(f"{stack.url}/#/edit/read-only")  # typed or bookmarked: no form to fail on save
    page.wait_for_selector("#read-only:has-text('auditor')")
    assert page.locator("#f-save").count() == 0
    page.goto(f"{stack.url}/#/")
    page.wait_for_selector("tr[data-key='read-only']")
    assert not page.is_visible("#new-schedule")
    page.close()
    page = signed_in(browser, stack, 1280, 900, user="olga")
    page.goto(f"{stack.url}/#/s/read-only")
    page.wait_for_selector("#live.live")
    assert [w for w in WRITERS if page.is_visible(w)] == list(WRITERS)
    page.close()


def test_the_audit_card_quotes_a_command_as_the_definition_does(
    browser: object,  # noqa: F811
    stack: Stack,
) -> None:
    """newcomer18a #7: the Audit card joined argv with blanks: 3 words read as 6."""
    job = ["sh", "-c", "echo boom >&2; exit 3"]
    with stack.client() as http:
        assert create(http, "quoted", spec="0 3 1 1 *", command=job).status_code == 201
        changed = http.patch(
            "/api/v1/schedules/quoted",
            json={"command": [*job, "it's"]},
            headers={"If-Match": '"1"'},
        )
        assert changed.status_code == 200, changed.text
    page = signed_in(browser, stack, 1280, 900)
    page.goto(f"{stack.url}/#/s/quoted")
    change = page.locator(".audit .diff:has(code:text-is('command'))")
    change.first.wait_for()
    said = change.evaluate_all("ds => ds.map(d => d.textContent)")  # type: ignore[arg-type]
    defined = page.locator("#definition dd[data-field='command']").inner_text()
    page.close()
    assert said == [
        "command sh -c 'echo boom >&2; exit 3' → sh -c 'echo boom >&2; exit 3' \"it's\"",
        "command sh -c 'echo boom >&2; exit 3'",
    ]
    assert defined == "sh -c 'echo boom >&2; exit 3' \"it's\""
