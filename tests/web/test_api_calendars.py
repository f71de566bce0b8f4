"""Calendars and one-fire skips through the HTTP API, against a real stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_api import problem
from webstack import Stack, create, run_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("webcal"))


def test_calendar_life_and_its_errors(stack: Stack) -> None:
    with stack.client() as http, stack.client("aud") as auditor:
        made = http.post(
            "/api/v1/calendars",
            json={"name": "maint", "tz": "Europe/Berlin", "windows": ["0 2 * * sun for 4h"],
                  "dates": ["2026-12-25"]},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        assert made.headers["location"] == "/api/v1/calendars/maint"
        assert made.json()["definition"]["windows"] == ["0 2 * * sun for 4h"]
        assert "maint" in [c["name"] for c in http.get("/api/v1/calendars").json()["calendars"]]

        assert "exists" in problem(
            http.post("/api/v1/calendars", json={"name": "maint", "dates": ["2027-01-01"]}), 409
        )
        bad = http.post("/api/v1/calendars", json={"name": "w", "windows": ["0 2 * * sun 4h"]})
        assert "0 2 * * sun 4h" in problem(bad, 422)
        assert "colour" in problem(
            http.post("/api/v1/calendars", json={"name": "c", "colour": 1}), 422
        )
        # newcomer19a #5: the CLI's and the files' sentence, not msgspec's "Invalid RFC3339 …"
        no_day = http.post("/api/v1/calendars", json={"name": "c", "dates": ["2026-02-30"]})
        assert problem(no_day, 422) == (
            "dates[0]: '2026-02-30' does not exist: February 2026 has 28 days"
        )
        huge = http.post(
            "/api/v1/calendars", content=b'{"name": "c", "dates": [1e400]}',
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert (
            problem(huge, 400)
            == "malformed JSON body: dates[0]: 1e400: out of range (at most 64 bits)"
        )
        assert "calendar 'nope' not found" in problem(http.get("/api/v1/calendars/nope"), 404)
        assert "calendar 'nope' not found" in problem(http.delete("/api/v1/calendars/nope"), 404)
        assert "'nope'" in problem(http.patch("/api/v1/calendars/nope", json={}), 404)
        assert problem(
            auditor.post("/api/v1/calendars", json={"name": "x", "dates": ["2027-01-01"]}), 403
        )

        changed = http.patch(
            "/api/v1/calendars/maint", json={"dates": None, "description": "patch day"}
        )
        assert changed.status_code == 200, changed.text
        d = changed.json()["definition"]
        assert d.get("dates", []) == [] and d["description"] == "patch day"
        assert d["windows"] == ["0 2 * * sun for 4h"]  # absent keeps

        used = create(http, "cal-user", exclude=["maint"])
        assert used.status_code == 201, used.text
        refused = http.delete("/api/v1/calendars/maint")
        assert "used by cal-user (exclude)" in problem(refused, 409)
        assert http.delete("/api/v1/schedules/cal-user").status_code == 204
        assert http.delete("/api/v1/calendars/maint").status_code == 204
        assert http.get("/api/v1/calendars/maint").status_code == 404


def test_skip_and_unskip_one_fire(stack: Stack) -> None:
    with stack.client() as http:
        assert create(http, "skippy", spec="0 3 * * *", tz="Europe/Berlin").status_code == 201
        coming = http.get("/api/v1/schedules/skippy/next", params={"n": 2}).json()["fires"]
        first = coming[0]["utc"]
        skipped = http.post(
            "/api/v1/schedules/skippy/skip", json={"time": first, "reason": "holiday"}
        )
        assert skipped.status_code == 200, skipped.text
        assert (skipped.json()["skipped"], skipped.json()["changed"]) == (True, True)
        # newcomer20a #9: a skip of a skipped fire stores nothing (its reason neither): said so
        again = http.post("/api/v1/schedules/skippy/skip", json={"time": first, "reason": "x"})
        assert (again.status_code, again.json()["changed"]) == (200, False)
        row = http.get("/api/v1/schedules/skippy").json()
        assert first in row["skips"] and "holiday" in row["skips"][first], row
        not_a_fire = http.post("/api/v1/schedules/skippy/skip", json={"time": "03:30"})
        assert problem(not_a_fire, 422).startswith("time '03:30': "), (
            "the body's field, not the CLI's TIME"
        )
        assert "is not a fire time of '0 3 * * *' in Europe/Berlin" in problem(not_a_fire, 422)
        gone = http.post("/api/v1/schedules/skippy/skip", json={"time": "2020-01-01T02:00Z"})
        assert problem(gone, 422).startswith("time '2020-01-01T02:00Z': ")
        assert problem(http.post("/api/v1/schedules/skippy/skip", json={}), 422)
        unskipped = http.post("/api/v1/schedules/skippy/unskip", json={"time": first})
        assert (unskipped.status_code, unskipped.json()["changed"]) == (200, True)
        unskipped = http.post("/api/v1/schedules/skippy/unskip", json={"time": first})
        assert unskipped.json()["changed"] is False
        assert not http.get("/api/v1/schedules/skippy").json().get("skips")


def test_calendar_what_if_changes_nothing(stack: Stack) -> None:
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    days = [str(today), str(today + timedelta(days=1))]
    with stack.client() as http, stack.client("aud") as auditor:
        made = http.post("/api/v1/calendars", json={"name": "wi", "dates": ["2020-01-01"]})
        assert made.status_code == 201, made.text
        assert create(http, "wi-user", exclude=["wi"]).status_code == 201
        url = "/api/v1/calendars/wi/what-if"

        answer = auditor.post(url, params={"window": "1d", "n": 3}, json={"dates": days})

        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["before"]["dates"], body["after"]["dates"]) == (["2020-01-01"], days)
        [one] = body["schedules"]
        assert (one["schedule"], one["uses"], len(one["next_before"])) == ("wi-user", "exclude", 3)
        assert one["next_after"][0] >= f"{today + timedelta(days=2)}T00:00:00Z", one
        assert http.get("/api/v1/calendars/wi").json()["definition"]["dates"] == ["2020-01-01"]
        assert "'nope'" in problem(http.post("/api/v1/calendars/nope/what-if", json={}), 404)
        assert "write FIRST..LAST" in problem(http.post(url, json={"ranges": ["x"]}), 422)
        empty = {"dates": None}
        assert problem(http.post(url, json=empty), 422).endswith(
            "at least one of windows, dates, ranges"
        )
        assert "window" in problem(http.post(url, params={"window": "0s"}, json={}), 400)
