"""The API in jetcron's words (newcomer nc21a #5, #6, #8, #9, #10), against a real stack:
a search finds a command as it is written, a shell job for an executor that refuses shell
strings says so as the CLI does, and every bad query parameter is one 400 naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_api import problem
from webstack import Stack, cli, create, run_stack, start_executor, until, until_listed

from jetcron.web.wording import for_web

SCHEDULES = "/api/v1/schedules"
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("web-words"))


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def made(http: httpx.Client, name: str, **job: object) -> httpx.Response:
    """POST a schedule that runs `job` (shell=… or action=…) every hour."""
    return http.post(SCHEDULES, json={"name": name, "spec": "0 * * * *", **job})


def names(http: httpx.Client, q: str) -> set[str]:
    """The schedules a search finds."""
    answer = http.get(SCHEDULES, params={"q": q})
    assert answer.status_code == 200, answer.text
    return {r["name"] for r in answer.json()["schedules"]}


def test_a_search_finds_a_command_as_it_is_written(http: httpx.Client) -> None:
    assert create(http, "w-argv", command=["echo", "hi"]).status_code == 201
    assert made(http, "w-shell", shell="echo hi | tr a-z A-Z").status_code == 201
    assert create(http, "w-sleep", command=["sleep", "40"]).status_code == 201
    assert create(http, "w-spaced", command=["echo", "hi there"]).status_code == 201
    assert made(http, "w-act", action="http", params={"url": "http://x"}).status_code == 201

    assert names(http, "echo hi") >= {"w-argv", "w-shell", "w-spaced"}
    assert "w-sleep" in names(http, "SLEEP 40")  # any case, as before
    assert "w-spaced" in names(http, "echo 'hi there'")  # as the console shows it, quoted
    assert "w-shell" in names(http, "| tr a-z")  # a shell line as it is
    assert "w-act" in names(http, "http")
    # why: Python's repr of the list is no text anyone wrote (nc21a #5)
    assert not {"w-argv", "w-spaced"} & names(http, "echo', 'hi")
    # why: the parts are searched one by one: no match across the name and the spec
    assert "w-argv" not in names(http, "w-argv 0 *")


def test_bad_query_parameters_are_one_400_in_our_words(stack: Stack, http: httpx.Client) -> None:
    create(http, "w-q", spec="*/10 * * * *")
    said = {
        (SCHEDULES, "limit", "0"): "limit: 0: must be at least 1",
        (SCHEDULES, "limit", "10001"): "limit: 10001: must be at most 10000",
        (SCHEDULES, "limit", "ten"): "limit: 'ten': must be a whole number",
        (f"{SCHEDULES}/w-q/next", "n", "1.5"): "n: '1.5': must be a whole number",
        ("/api/v1/runs", "current", "maybe"): "current: 'maybe': give true or false",
        ("/api/v1/events", "after", "-5"): "after '-5': expected a log sequence number (0 or more)",
    }
    for (path, name, value), line in said.items():
        assert problem(http.get(path, params={name: value}), 400) == line, (path, name)
    assert problem(http.get("/api/v1/preview"), 400) == "spec: required"
    run_id = http.post(f"{SCHEDULES}/w-q/trigger").json()["run_id"]
    output = http.get(f"/api/v1/runs/{run_id}/output", params={"download": "stdin"})
    assert problem(output, 400) == "download: 'stdin': use 'stdout' or 'stderr'"
    dry = http.patch(f"{SCHEDULES}/w-q", params={"dry_run": "maybe"}, json={"spec": "@daily"})
    assert problem(dry, 400) == "dry_run: 'maybe': give true or false"
    banana = http.get("/api/v1/events", headers={"Last-Event-ID": "banana"})
    assert problem(banana, 400).startswith("Last-Event-ID 'banana': ")
    # nc21a #9: what a parameter says, not only its form, is a 400 too (was 422)
    for path, params in [
        ("/api/v1/stats", {"window": "banana"}),
        ("/api/v1/due", {"within": "-1h"}),
        ("/api/v1/conflicts", {"within": "0s"}),
        ("/api/v1/runs", {"since": "banana"}),
        ("/api/v1/preview", {"spec": "61 * * * *"}),
        ("/api/v1/preview", {"spec": "@daily", "tz": "Mars/X"}),
        (f"{SCHEDULES}/w-q/what-if", {"spec": "61 * * * *"}),
        (f"{SCHEDULES}/w-q/what-if", {}),
        (f"{SCHEDULES}/w-q/fires", {"since": "banana"}),
        (f"{SCHEDULES}/w-q/why", {"time": "banana"}),
    ]:
        line = problem(http.get(path, params=params), 400)
        assert "Input should" not in line and line, (path, line)
    not_a_fire = http.get(f"{SCHEDULES}/w-q/why", params={"time": "2026-03-01T00:05:00Z"})
    assert not_a_fire.status_code == 400 and not_a_fire.json()["fate"] == "not_a_fire"
    # left21's rule, over HTTP: a window that starts in the future is refused, not empty
    future = problem(http.get("/api/v1/runs", params={"since": "2030-01-01"}), 400)
    assert future.startswith("since 2030-01-01T00:00:00Z is in the future (now "), future
    # a body's slips stay 422 (RFC 9110: the content, not the address)
    assert problem(http.patch(f"{SCHEDULES}/w-q", json={"spec": "61 * * * *"}), 422)


def test_a_name_of_the_wrong_type_says_so(http: httpx.Client) -> None:
    body = {"name": 5, "spec": "@daily", "command": ["true"]}
    assert problem(http.post(SCHEDULES, json=body), 422) == "name: 5: must be a string"
    del body["name"]
    assert problem(http.post(SCHEDULES, json=body), 422) == "name: a schedule name is required"
    paused = {"name": "w-p", "spec": "@daily", "command": ["true"], "paused": "yes"}
    assert problem(http.post(SCHEDULES, json=paused), 422) == "paused: 'yes': give true or false"
    # nc21a #8: a misspelt kind gets the kind meant, as a misspelt field does
    hook = {"name": "w-n", "subject": "w.alerts", "on": ["failur"]}
    said = problem(http.post("/api/v1/notifications", json=hook), 422)
    assert said.startswith("unknown on kind 'failur' (did you mean 'failure'?): use one of ")


def test_a_wrong_method_is_a_405_with_allow(http: httpx.Client) -> None:
    create(http, "w-405")
    put = http.put(f"{SCHEDULES}/w-405", json={})
    assert problem(put, 405) == f"PUT is not allowed on {SCHEDULES}/w-405: use GET, PATCH, DELETE"
    assert put.headers["allow"] == "GET, PATCH, DELETE"  # RFC 9110: every method of the path
    posted = http.post("/api/v1/zones")
    assert problem(posted, 405).endswith("use GET") and posted.headers["allow"] == "GET"


def test_a_shell_job_for_an_executor_that_refuses_shell_is_warned_of(
    stack: Stack, http: httpx.Client, tmp_path: Path
) -> None:
    proc = start_executor(stack, tmp_path, "w-vm", "w-pool")
    try:
        until_listed(http, "w-vm")
        said = cli(stack.nats_url, "schedule", "add", "w-cli", "@daily", "--shell", "echo hi",
                   "--target", "w-pool")  # fmt: skip
        lines = [w for w in said.stderr.splitlines() if "refuses shell strings" in w]
        assert len(lines) == 1, said.stderr
        warned = lines[0].removeprefix("warning: ")

        sh = made(http, "w-sh", shell="echo hi | tr a-z A-Z", target="w-pool")
        assert sh.status_code == 201, sh.text
        # one rule: the CLI's warning, worded for the web (no `jetcron up` to run there)
        assert sh.json()["warnings"] == [for_web(warned)]
        assert sh.json()["warnings"] == [
            "executor w-vm of target 'w-pool' refuses shell strings: its runs fail until it "
            "is started with --allow-shell"
        ]
        # an edit that makes a command job a shell job for that target says it too
        create(http, "w-cmd", target="w-pool")
        edited = http.patch(f"{SCHEDULES}/w-cmd", json={"shell": "echo hi"})
        assert edited.status_code == 200 and edited.json()["warnings"] == sh.json()["warnings"]
        # an edit that leaves the job and target alone does not repeat it
        quiet = http.patch(f"{SCHEDULES}/w-sh", json={"description": "still shell"})
        assert quiet.json()["warnings"] == []
        # a dry run answers the same warnings first, and stores nothing (the console can ask)
        dry = {"dry_run": True}
        first = http.post(SCHEDULES, params=dry, json={"name": "w-sh2", "spec": "@daily",
                                                       "shell": "echo", "target": "w-pool"})  # fmt: skip
        assert first.status_code == 200 and first.json() == {"warnings": sh.json()["warnings"]}
        assert http.get(f"{SCHEDULES}/w-sh2").status_code == 404
        taken = http.post(SCHEDULES, params=dry, json={"name": "w-sh", "spec": "@daily",
                                                       "command": ["true"]})  # fmt: skip
        real = http.post(SCHEDULES, json={"name": "w-sh", "spec": "@daily", "command": ["true"]})
        assert (
            problem(taken, 409)
            == problem(real, 409)
            == ("schedule 'w-sh' already exists: edit it instead")
        )
        create(http, "w-cmd2", target="w-pool")
        before = http.get(f"{SCHEDULES}/w-cmd2").json()["version"]
        asked = http.patch(f"{SCHEDULES}/w-cmd2", params=dry, json={"shell": "echo hi"})
        assert asked.status_code == 200 and asked.json() == {"warnings": sh.json()["warnings"]}
        assert http.get(f"{SCHEDULES}/w-cmd2").json()["version"] == before
        # the stack's own executor (target default) runs shell strings: nothing to say
        assert made(http, "w-ok", shell="echo ok").json()["warnings"] == []
    finally:
        proc.terminate()
        proc.wait(15)


def test_a_capped_output_says_how_much_was_kept(http: httpx.Client) -> None:
    assert made(http, "w-big", shell="yes row | head -n 40000").status_code == 201
    run_id = http.post(f"{SCHEDULES}/w-big/trigger").json()["run_id"]
    until(lambda: http.get(f"/api/v1/runs/{run_id}").json()["status"], lambda s: s == "succeeded")
    out = http.get(f"/api/v1/runs/{run_id}/output").json()
    assert out["stdout_truncated"] and out["stdout_size"] == 160_000
    kept = len(out["stdout"].encode())
    # nc21a #14: how much of how much, as `runs show` says it (domain.runs.truncation)
    assert out["stdout_note"] == f"[stdout truncated: {kept:,} of 160,000 bytes kept]"
    assert "stderr_note" not in out
    file = http.get(f"/api/v1/runs/{run_id}/output", params={"download": "stdout"})
    assert file.headers["jetcron-truncated"] == out["stdout_note"]
    assert file.content == out["stdout"].encode()  # the job's own bytes, no marker inside


def test_a_body_that_is_no_json_object_is_one_422_everywhere(http: httpx.Client) -> None:
    create(http, "w-obj")
    for method, path in [
        ("POST", SCHEDULES),
        ("PATCH", f"{SCHEDULES}/w-obj"),
        ("POST", f"{SCHEDULES}/w-obj/pause"),
        ("POST", f"{SCHEDULES}/w-obj/backfill"),
        ("POST", "/api/v1/calendars"),
        ("POST", "/api/v1/health/ack"),
    ]:
        said = problem(http.request(method, path, json=["x"]), 422)
        assert said.startswith("the body must be a JSON object "), (path, said)
    assert http.get(f"{SCHEDULES}/w-obj").json()["state"] == "active"  # nothing was changed
