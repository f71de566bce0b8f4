"""The HTTP API against a real stack: every endpoint's happy path and its errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from webstack import Stack, cli, create, run_stack, until

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("web"))


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def problem(response: httpx.Response, status: int) -> str:
    """The detail of a problem+json answer, after checking its status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["instance"]
    return str(body["detail"])


def test_create_get_patch_pause_resume_delete(http: httpx.Client) -> None:
    made = create(http, "api-life", tags=["tank"], target="default", description="lights on")
    assert made.status_code == 201, made.text
    assert made.headers["location"] == "/api/v1/schedules/api-life"
    assert made.headers["etag"] == '"1"'
    assert made.json()["state"] == "active" and made.json()["next_fire"]

    got = http.get("/api/v1/schedules/api-life")
    assert got.json()["definition"]["job"]["command"] == ["echo", "hello from api-life"]
    assert got.headers["etag"] == '"1"'

    changed = http.patch(
        "/api/v1/schedules/api-life",
        json={"spec": "*/5 * * * *", "retries": 2, "description": None},
        headers={"If-Match": '"1"', "X-Reason": "every five minutes"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"2"'
    d = changed.json()["definition"]
    assert d["spec"] == "*/5 * * * *" and d["retry"]["max_attempts"] == 3
    assert d["description"] == "" and d["tags"] == ["tank"]  # null resets, absent keeps

    # newcomer18a #8: a dry run checks a change as the PATCH does and sends nothing
    dry = {"dry_run": True}
    bad = http.patch("/api/v1/schedules/api-life", json={"spec": "@evry 5s"}, params=dry)
    assert problem(bad, 422).startswith("invalid spec '@evry 5s': unknown macro '@evry'")
    fine = http.patch("/api/v1/schedules/api-life", json={"timeout": "7m"}, params=dry)
    assert fine.status_code == 200 and fine.json() == {"warnings": []}, fine.text
    stale = http.patch(
        "/api/v1/schedules/api-life", json={"retries": 1}, headers={"If-Match": '"1"'}, params=dry
    )
    assert stale.status_code == 412
    assert http.get("/api/v1/schedules/api-life").headers["etag"] == '"2"'  # nothing sent

    stale = http.patch(
        "/api/v1/schedules/api-life", json={"retries": 1}, headers={"If-Match": '"1"'}
    )
    assert problem(stale, 412) == (
        "schedule 'api-life' is at version 2, not 1: someone changed it; reload and try again"
    )

    paused = http.post("/api/v1/schedules/api-life/pause", json={"reason": "water change"})
    assert paused.json()["state"] == "paused" and paused.json()["paused_reason"] == "water change"
    assert paused.json()["changed"] is True
    # newcomer20a #9: a pause of a paused schedule stores nothing (its reason neither): said so
    again = http.post("/api/v1/schedules/api-life/pause", json={"reason": "again"})
    assert again.status_code == 200, again.text
    assert (again.json()["changed"], again.json()["paused_reason"]) == (False, "water change")
    resumed = http.post("/api/v1/schedules/api-life/resume").json()
    assert (resumed["state"], resumed["changed"]) == ("active", True)
    assert http.post("/api/v1/schedules/api-life/resume").json()["changed"] is False
    same = http.patch("/api/v1/schedules/api-life", json={"retries": 2})
    assert same.json()["changed"] is False and same.headers["etag"] == '"4"'
    assert "changed" not in http.get("/api/v1/schedules/api-life").json()

    nxt = http.get("/api/v1/schedules/api-life/next", params={"n": 3}).json()
    assert len(nxt["fires"]) == 3 and nxt["fires"][0]["utc"].endswith("Z")

    stale_delete = http.delete("/api/v1/schedules/api-life", headers={"If-Match": '"2"'})
    problem(stale_delete, 412)
    gone = http.delete(
        "/api/v1/schedules/api-life",
        params={"reason": "replaced by ünïcode"},
        headers={"If-Match": '"4"'},
    )
    assert gone.status_code == 204
    assert "not found" in problem(http.get("/api/v1/schedules/api-life"), 404)

    audit = http.get("/api/v1/audit", params={"name": "api-life"}).json()
    assert [e["type"] for e in audit][:2] == ["schedule.created", "schedule.updated"]
    assert audit[1]["reason"] == "every five minutes"
    assert audit[-1]["type"] == "schedule.deleted" and audit[-1]["reason"] == "replaced by ünïcode"
    assert {e["actor"] for e in audit} == {"alice"}  # why: the actor is the token's user

    assert create(http, "api-gone").status_code == 201
    said = http.request("DELETE", "/api/v1/schedules/api-gone", json={"reason": "tank sold"})
    assert said.status_code == 204, said.text  # why: the body, as pause takes it, not dropped
    assert (
        http.get("/api/v1/audit", params={"name": "api-gone"}).json()[-1]["reason"] == "tank sold"
    )


def test_bad_input_is_a_problem_with_the_clis_message(stack: Stack, http: httpx.Client) -> None:
    bad = create(http, "api-bad", spec="61 * * * *")
    said = cli(stack.nats_url, "schedule", "add", "api-bad", "61 * * * *", "--", "echo")
    assert said.exit_code == 2
    assert problem(bad, 422) == said.stderr.strip().removeprefix("error: ")
    assert "did you mean 'retries'" in problem(create(http, "api-bad", retrys=2), 422)
    assert "nothing to run" in problem(
        http.post("/api/v1/schedules", json={"name": "x", "spec": "@daily"}), 422
    )
    assert "unknown time zone" in problem(create(http, "api-bad", tz="Mars/Olympus"), 422)
    malformed = http.post(
        "/api/v1/schedules", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert "malformed JSON" in problem(malformed, 400)
    assert create(http, "api-dup").status_code == 201
    # why: worded for the web, not "use `jetcron schedule update`" (web/wording.py)
    assert (
        problem(create(http, "api-dup"), 409)
        == "schedule 'api-dup' already exists: edit it instead"
    )
    assert "would never run" in problem(create(http, "api-past", spec="@at 2020-01-01T00:00Z"), 422)
    assert "invalid spec" in problem(
        http.patch("/api/v1/schedules/api-dup", json={"spec": "nope"}), 422
    )
    assert "has no default" in problem(
        http.patch("/api/v1/schedules/api-dup", json={"spec": None}), 422
    )
    in_body = http.patch("/api/v1/schedules/api-dup", json={"retries": 1, "reason": "x"})
    assert "?reason=" in problem(in_body, 422)
    assert "?reason=" in problem(create(http, "api-why", reason="new tank"), 422)
    renamed = http.patch("/api/v1/schedules/api-dup", json={"name": "api-dup2"})
    assert "cannot be renamed" in problem(renamed, 422)
    ended = http.patch("/api/v1/schedules/api-dup", json={"end": "2020-01-01T00:00:00Z"})
    assert "would never run" in problem(ended, 422)
    misspelt = http.post("/api/v1/schedules/api-dup/pause", json={"reasn": "tank cleaning"})
    assert (
        problem(misspelt, 422)
        == "reasn: no such field (did you mean 'reason'?); this body takes only reason"
    )
    assert http.get("/api/v1/schedules/api-dup").json()["state"] == "active"  # why: nothing sent
    twice = http.patch("/api/v1/schedules/api-dup", json={"tags": ["a", "a"]})
    assert problem(twice, 422) == "tag 'a' given twice"  # newcomer19a #11: it stored 'a, a'
    assert "JSON object" in problem(
        http.post("/api/v1/schedules/api-dup/trigger", json=["now"]), 422
    )
    assert "takes only reason" in problem(
        http.post("/api/v1/runs/ffffffff/cancel", json={"x": 1}), 422
    )
    assert "limit" in problem(http.get("/api/v1/schedules", params={"limit": 0}), 400)
    assert "unknown status" in problem(http.get("/api/v1/runs", params={"status": "nope"}), 400)
    assert "unknown state" in problem(http.get("/api/v1/schedules", params={"state": "nope"}), 400)
    assert problem(http.get("/api/v1/runs/ffffffff"), 404).endswith("): see the runs list")
    assert "not found" in problem(http.post("/api/v1/schedules/nope/pause"), 404)
    assert "not found" in problem(http.get("/api/v1/schedules/nope/next"), 404)
    assert "not found" in problem(http.get("/api/v1/runs", params={"schedule": "nope"}), 404)
    assert "invalid cursor" in problem(http.get("/api/v1/runs", params={"cursor": "!!"}), 400)
    for path in ("/api/v1/runs", "/api/v1/schedules"):  # why: not ASCII: b64decode's ValueError
        assert "invalid cursor" in problem(http.get(path, params={"cursor": "\x00\xff"}), 400)
    assert problem(http.get("/api/v1/nothing-here"), 404)


def test_tokens_and_roles(stack: Stack) -> None:
    with stack.client(None) as anonymous:
        assert "bearer token" in problem(anonymous.get("/api/v1/schedules"), 401)
        assert anonymous.get("/healthz").status_code == 200  # why: load-balancer probes
        assert anonymous.get("/api/v1/openapi.json").status_code == 200
    with httpx.Client(base_url=stack.url, headers={"Authorization": "Bearer wrong"}) as wrong:
        assert problem(wrong.get("/api/v1/schedules"), 401) == "unknown token"
    with stack.client("aud") as auditor:
        assert auditor.get("/api/v1/schedules").status_code == 200
        assert "read-only" in problem(create(auditor, "api-aud"), 403)
        assert auditor.get("/api/v1/whoami").json() == {
            "name": "aud",
            "role": "auditor",
            "auth": True,
        }
    with stack.client("olga") as operator:
        assert create(operator, "api-olga").status_code == 201
        assert operator.post("/api/v1/schedules/api-olga/pause").json()["state"] == "paused"


def test_list_filters(http: httpx.Client) -> None:
    create(http, "api-f-one", tags=["reef"], description="Feed the fish")
    create(http, "api-f-two", target="pumps")
    http.post("/api/v1/schedules/api-f-two/pause")

    def names(**params: str) -> list[str]:
        page = http.get("/api/v1/schedules", params=params).json()
        return [r["name"] for r in page["schedules"] if r["name"].startswith("api-f-")]

    assert names() == ["api-f-one", "api-f-two"]
    assert names(tag="reef") == ["api-f-one"]
    assert names(target="pumps") == ["api-f-two"]
    assert names(q="fish") == ["api-f-one"]
    assert names(state="paused") == ["api-f-two"]


def test_schedule_paging_is_stable_under_concurrent_inserts(http: httpx.Client) -> None:
    originals = [f"api-p-{i:02d}" for i in range(0, 20, 2)]
    for name in originals:
        create(http, name)
    seen: list[str] = []
    cursor = None
    for round_ in range(20):
        params = {"limit": 3, "q": "api-p-", **({"cursor": cursor} if cursor else {})}
        page = http.get("/api/v1/schedules", params=params).json()
        seen += [r["name"] for r in page["schedules"]]
        # why: inserts on both sides of the cursor while paging, as another client would
        create(http, f"api-p-{round_ * 2 + 1:02d}")
        create(http, f"api-p-00{round_}")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a schedule was shown twice"
    assert set(originals) <= set(seen), "a schedule was skipped"
    assert seen == sorted(seen)


def test_trigger_output_runs_and_cancel(http: httpx.Client) -> None:
    create(http, "api-run")
    triggered = http.post("/api/v1/schedules/api-run/trigger", json={"reason": "test"})
    assert triggered.status_code == 202, triggered.text
    run_id = triggered.json()["run_id"]
    done = until(
        lambda: http.get(f"/api/v1/runs/{run_id}").json(), lambda r: r["status"] == "succeeded"
    )
    assert done["manual"] and done["triggered_by"] == "alice" and done["trigger_reason"] == "test"
    assert http.get(f"/api/v1/runs/{run_id[:8]}").json()["run_id"] == run_id
    out = http.get(f"/api/v1/runs/{run_id}/output").json()
    assert out["stdout"] == "hello from api-run\n" and out["status"] == "succeeded"
    assert [(a["attempt"], a["fate"]) for a in out["attempts"]] == [(1, "succeeded")]
    download = http.get(f"/api/v1/runs/{run_id}/output", params={"download": "stdout"})
    assert download.text == "hello from api-run\n"
    assert download.headers["content-type"].startswith("text/plain")
    assert "attachment" in download.headers["content-disposition"]
    listed = http.get("/api/v1/runs", params={"schedule": "api-run"}).json()
    assert [r["run_id"] for r in listed["runs"]] == [run_id] and listed["next_cursor"] is None
    assert "already ended" in problem(http.post(f"/api/v1/runs/{run_id}/cancel"), 409)


def test_last_run_of_a_schedule(http: httpx.Client) -> None:
    create(http, "api-last")
    none_yet = http.get("/api/v1/schedules/api-last/last-run")
    run_id = http.post("/api/v1/schedules/api-last/trigger").json()["run_id"]
    until(lambda: http.get(f"/api/v1/runs/{run_id}").json(), lambda r: r["status"] == "succeeded")

    last = http.get("/api/v1/schedules/api-last/last-run")

    assert "'api-last' has no finished run yet" in problem(none_yet, 404)
    assert last.status_code == 200, last.text
    assert (last.json()["run_id"], last.json()["other_members"]) == (run_id, [])
    assert "not found" in problem(http.get("/api/v1/schedules/nope/last-run"), 404)


def test_cancel_a_running_run(http: httpx.Client) -> None:
    create(http, "api-sleep", command=["sleep", "30"])
    run_id = http.post("/api/v1/schedules/api-sleep/trigger").json()["run_id"]
    until(lambda: http.get(f"/api/v1/runs/{run_id}").json(), lambda r: r["status"] == "running")
    answer = http.post(f"/api/v1/runs/{run_id}/cancel", json={"reason": "too slow"})
    assert answer.status_code == 202
    ended = until(
        lambda: http.get(f"/api/v1/runs/{run_id}").json(), lambda r: r["status"] == "cancelled"
    )
    assert "too slow" in ended["reason"]


def test_run_paging_is_stable_under_concurrent_inserts(http: httpx.Client) -> None:
    create(http, "api-rp")
    first = [http.post("/api/v1/schedules/api-rp/trigger").json()["run_id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"schedule": "api-rp", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = http.get("/api/v1/runs", params=params).json()
        seen += [r["run_id"] for r in page["runs"]]
        http.post("/api/v1/schedules/api-rp/trigger")  # why: a newer run lands while paging
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and set(first) <= set(seen)


def test_views(http: httpx.Client) -> None:
    create(http, "api-views", spec="*/10 * * * *")
    # why: stats groups only runs that ended; alone (or first on its -n worker) there were none
    http.post("/api/v1/schedules/api-views/trigger")
    groups = until(
        lambda: {r["group"] for r in http.get("/api/v1/stats").json()}, lambda g: "overall" in g
    )
    assert groups >= {"overall"}
    assert "healthy" in http.get("/api/v1/health").json()
    assert http.get("/api/v1/status").json()["stream"]["name"] == "JETCRON"
    due = http.get("/api/v1/due", params={"within": "1h"}).json()
    assert any(f["name"] == "api-views" for f in due["fires"])
    assert problem(http.get("/api/v1/due", params={"within": "soon"}), 400).startswith("within:")
    assert [e["name"] for e in http.get("/api/v1/executors").json()] == ["webhost"]
    fires = http.get("/api/v1/schedules/api-views/fires").json()
    assert fires["schedule"] == "api-views" and "fires" in fires
    reversed_window = {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}
    assert problem(http.get("/api/v1/schedules/api-views/fires", params=reversed_window), 400) == (
        "since 2026-03-02T00:00:00Z is after until 2026-03-01T00:00:00Z"
    )
    # newcomer18a #9: /runs takes until as /fires does, and refuses the same reversed window
    assert http.get("/api/v1/runs", params={"until": "2000-01-01T00:00:00Z"}).json()["runs"] == []
    assert problem(http.get("/api/v1/runs", params=reversed_window), 400) == (
        "since 2026-03-02T00:00:00Z is after until 2026-03-01T00:00:00Z"
    )
    assert "sentences" in http.get("/api/v1/schedules/api-views/why").json()
    # newcomer19a #3: no fire time is the asker's slip, as the CLI's exit 2; the answer in the
    # body; 400 as every bad query parameter (nc21a #9)
    slip = http.get("/api/v1/schedules/api-views/why", params={"time": "2026-03-01T00:05:00Z"})
    assert slip.status_code == 400, slip.text
    assert slip.json()["fate"] == "not_a_fire"
    assert "is not a fire time of '*/10 * * * *'" in slip.json()["sentences"][0]["text"]
    assert http.get("/api/v1/schedules/api-views/audit").json()[0]["actor"] == "alice"
    assert "Europe/Berlin" in http.get("/api/v1/zones").json()
    assert http.get("/api/v1/whoami").json()["role"] == "admin"
    assert http.get("/readyz").json() == {"ready": True}


def test_a_zero_window_is_refused_as_the_cli_refuses_it(http: httpx.Client) -> None:
    create(http, "api-zero", spec="@hourly")
    said = cli("", "stats", "--window", "0s")
    assert said.exit_code == 2 and said.stderr.strip() == "error: --window must be longer than 0s"
    for path, name in [
        ("/api/v1/stats", "window"),
        ("/api/v1/conflicts", "within"),
        ("/api/v1/due", "within"),
        ("/api/v1/schedules/api-zero/what-if", "window"),
    ]:
        assert problem(http.get(path, params={name: "0s"}), 400) == f"{name} must be longer than 0s"


def test_a_patch_that_names_no_field_is_refused_as_the_cli_refuses_it(http: httpx.Client) -> None:
    create(http, "api-empty", spec="@hourly")
    said = cli("", "schedule", "update", "api-empty")
    assert said.exit_code == 2 and "nothing given to change" in said.stderr
    before = http.get("/api/v1/schedules/api-empty").json()["version"]
    shown = problem(http.patch("/api/v1/schedules/api-empty", json={}), 422)
    assert shown.startswith("nothing given to change: name a field"), shown
    assert http.get("/api/v1/schedules/api-empty").json()["version"] == before


def test_preview_with_dst_notes(http: httpx.Client) -> None:
    shown = http.get(
        "/api/v1/preview",
        params={"spec": "30 2 * * *", "tz": "Europe/Berlin", "n": 2, "after": "2026-03-28T12:00"},
    ).json()
    assert [f["utc"] for f in shown["fires"]] == ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
    assert "does not exist" in shown["fires"][0]["dst"][0] and shown["fires"][1]["dst"] == []
    # newcomer20c #2: after a wall time inside the gap, the gap's fire (at 03:00) is kept
    params = {"spec": "30 2 * * *", "tz": "Europe/Berlin", "n": 1, "after": "2026-03-29T02:15"}
    in_gap = http.get("/api/v1/preview", params=params).json()
    assert [f["utc"] for f in in_gap["fires"]] == ["2026-03-29T01:00:00Z"]
    said = cli("", "preview", "0 25 * * *")
    bad = http.get("/api/v1/preview", params={"spec": "0 25 * * *"})
    assert problem(bad, 400) == said.stderr.strip().removeprefix("error: ")


def test_openapi_and_docs_are_served_without_a_cdn(http: httpx.Client) -> None:
    doc = http.get("/api/v1/openapi.json").json()
    assert "/api/v1/schedules/{name}" in doc["paths"]
    assert "ScheduleFields" in doc["components"]["schemas"]
    for page in ("/api/v1/docs", "/"):
        html = http.get(page).text
        assert "<html" in html and "cdn" not in html.lower() and "https://" not in html


def test_binding_beyond_localhost_needs_tokens(tmp_path: Path) -> None:
    said = cli("", "web", "--host", "0.0.0.0", "--port", "0")
    assert said.exit_code == 2
    assert said.stderr.count("\n") == 1 and "refusing to serve beyond localhost" in said.stderr


def test_a_name_added_again_shows_its_own_runs_the_earlier_ones_marked(http: httpx.Client) -> None:
    create(http, "api-again")
    old = http.post("/api/v1/schedules/api-again/trigger", json={}).json()["run_id"]
    until(lambda: http.get(f"/api/v1/runs/{old}").json(), lambda r: r["status"] == "succeeded")
    assert http.delete("/api/v1/schedules/api-again").status_code == 204
    create(http, "api-again")

    got = http.get("/api/v1/schedules/api-again").json()
    assert got["runs"] == [] and got["runs_total"] == 0
    mine = http.get("/api/v1/runs", params={"schedule": "api-again", "current": "true"}).json()
    assert mine["runs"] == []
    history = http.get("/api/v1/runs", params={"schedule": "api-again"}).json()["runs"]
    assert [(r["run_id"], r["previous"]) for r in history] == [(old, True)]


def test_a_reason_or_description_with_a_control_character_is_a_422(http: httpx.Client) -> None:
    assert create(http, "api-plain").status_code == 201
    forged = "ok\n2026-12-02T17:00:00Z api-plain deleted (v99) by admin: forged line"

    paused = http.post("/api/v1/schedules/api-plain/pause", json={"reason": forged})
    patched = http.patch("/api/v1/schedules/api-plain", json={"description": "\x1b[31mred"})
    deleted = http.delete("/api/v1/schedules/api-plain", headers={"X-Reason": "a\tb"})

    assert "the reason holds a control character (U+000A at 2)" in problem(paused, 422)
    assert "the description holds a control character" in problem(patched, 422)
    assert "the reason holds a control character (U+0009 at 1)" in problem(deleted, 422)
    assert http.get("/api/v1/schedules/api-plain").json()["state"] == "active"


def test_limits_and_strict_bodies_are_problems_and_nothing_is_created(http: httpx.Client) -> None:
    huge = 99999999999999999999999
    assert (
        problem(create(http, "api-lim", retries=huge), 422)
        == f"retries: {huge}: must be at most 999"
    )
    assert "invalid tag 'bad tag!'" in problem(create(http, "api-lim", tags=["bad tag!"]), 422)
    assert "too long (100000 characters, at most 8192)" in problem(
        create(http, "api-lim", description="a" * 100_000), 422
    )
    big = http.post(
        "/api/v1/schedules",
        json={
            "name": "api-lim",
            "spec": "@daily",
            "command": ["true"],
            "description": "a" * 1_100_000,
        },
    )
    assert "more than this API takes" in problem(big, 413)
    twice = b'{"name": "api-lim", "spec": "@daily", "command": ["true"], "spec": "@hourly"}'
    assert (
        problem(
            http.post(
                "/api/v1/schedules", content=twice, headers={"content-type": "application/json"}
            ),
            422,
        )
        == "spec: given twice in one object (JSON would keep only the last)"
    )
    assert "at most 3660d" in problem(create(http, "api-lim", spec="@every 2900000d"), 422)
    far = create(http, "api-lim", spec="@at 9999-12-31T23:00", tz="America/Los_Angeles")
    assert "after the last fire time jetcron handles" in problem(far, 422)
    assert (
        problem(create(http, "api-lim", env={"A": 1}), 422)
        == "env: 1 (under 'A'): each value must be a string"
    )
    secret = problem(create(http, "api-lim", secret_env={"T": "@tok.secret"}), 422)
    assert "over HTTP give kv:NAME" in secret and "@FILE" not in secret
    calendar = problem(create(http, "api-lim", exclude=["nosuch"]), 422)
    assert calendar.endswith(
        "add the calendar first (the console's Calendars page, or POST /api/v1/calendars)"
    )
    assert http.get("/api/v1/schedules/api-lim").status_code == 404  # nothing was created

    preview = http.get("/api/v1/preview", params={"spec": "@every 2900000d"})
    assert "at most 3660d" in problem(preview, 400)  # why: a query parameter (nc21a #9)
    est = http.get("/api/v1/preview", params={"spec": "@daily", "tz": "EST", "n": 1}).json()
    assert est["note"].startswith("EST is a fixed UTC offset all year")


def test_a_schedule_posted_paused_as_export_writes_it(http: httpx.Client) -> None:
    made = create(http, "api-staged", paused=True, paused_reason="staged")
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "paused" and made.json()["paused_reason"] == "staged"
    assert "paused: 'yes': give true or false" in problem(
        create(http, "api-st2", paused="yes"), 422
    )
