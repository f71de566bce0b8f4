"""POST/GET/DELETE /api/v1/schedules/{name}/backfill against a real stack (with an executor):
the CLI's rules and errors as problem+json, the runs paced in the gateway's background."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from test_api import problem
from webstack import Stack, create, run_stack, until


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("webbackfill"))


DONE = ("failed", "skipped")


def runs(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    answer = http.get("/api/v1/runs", params={"schedule": name, "limit": 100})
    assert answer.status_code == 200, answer.text
    return answer.json()["runs"]  # type: ignore[no-any-return]


def test_backfill_over_http(stack: Stack) -> None:
    with stack.client("olga") as http, stack.client("aud") as auditor:
        slow_fail = ["sh", "-c", "sleep 0.3; false"]
        assert create(http, "bf", spec="@every 1s", command=slow_fail).status_code == 201
        until(lambda: runs(http, "bf"), lambda rs: sum(r["status"] == "failed" for r in rs) >= 2)
        assert http.post("/api/v1/schedules/bf/pause", json={}).status_code == 200
        until(lambda: runs(http, "bf"), lambda rs: all(r["status"] in DONE for r in rs))
        failed = sorted(r["fire_time"] for r in runs(http, "bf") if r["status"] == "failed")[-2:]
        span = {"from": failed[0], "to": failed[1]}
        url = "/api/v1/schedules/bf/backfill"

        assert problem(auditor.post(url, json=span), 403)
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        bad = {
            "is after to": {"from": failed[1], "to": failed[0]},
            "in the future": {**span, "to": future},
            "invalid time 'soon'": {**span, "from": "soon"},
            "use one of allow, skip, queue": {**span, "overlap": "often"},
            "max_parallel 3 goes with overlap allow": {**span, "max_parallel": 3},
            "must be from 1 to 100": {**span, "overlap": "allow", "max_parallel": 0},
            "unknown field 'colour'": {**span, "colour": 1},
            "rerun: expected true or false": {**span, "rerun": "yes"},
        }
        for detail, body in bad.items():
            said = problem(http.post(url, json=body), 422)
            assert detail in said and "--" not in said, (body, said)
        assert "'nope' not found" in problem(
            http.post("/api/v1/schedules/nope/backfill", json=span), 404
        )

        dry = http.post(url, json={**span, "dry_run": True})
        assert dry.status_code == 200, dry.text
        planned = [f["utc"] for f in dry.json()["backfill"]]
        assert set(failed) <= set(planned), planned  # and a fire skipped for overlap between
        assert (dry.json()["overlap"], dry.json()["max_parallel"]) == ("skip", 1)
        assert not [r for r in runs(http, "bf") if r.get("backfill_of")]

        started = http.post(url, json={**span, "overlap": "allow", "max_parallel": 2})
        assert started.status_code == 202, started.text
        assert started.headers["location"] == url
        assert "already running" in problem(http.post(url, json=span), 409)
        assert http.get(url).json()["running"] is True
        until(lambda: http.get(url).json(), lambda s: not s["running"])
        backfills = [r for r in runs(http, "bf") if r.get("backfill_of")]
        assert sorted(r["fire_time"] for r in backfills) == planned
        assert all(r["triggered_by"] == "olga" for r in backfills), backfills
        assert "no backfill" in problem(http.delete(url), 404)


def test_a_plan_says_why_in_the_bodys_words(stack: Stack) -> None:
    with stack.client("olga") as http:
        assert create(http, "bf-ok", spec="@every 1s", command=["true"]).status_code == 201
        until(lambda: runs(http, "bf-ok"), lambda rs: any(r["status"] == "succeeded" for r in rs))
        assert http.post("/api/v1/schedules/bf-ok/pause", json={}).status_code == 200
        done = [r["fire_time"] for r in runs(http, "bf-ok") if r["status"] == "succeeded"]
        span = {"from": min(done), "to": max(done), "dry_run": True}
        plan = http.post("/api/v1/schedules/bf-ok/backfill", json=span)
        assert plan.status_code == 200, plan.text
        whys = {f["why"] for f in plan.json()["left"]}
        assert "succeeded (rerun: true runs it again)" in whys, whys
