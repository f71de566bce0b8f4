"""A name deleted and created again: `fires` tells the time between as `deleted` (one line, not a
gap), and `why` judges a time by the schedule of the name live then (newcomer19c #12, #13); no
server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from projection_factory import T0, History, fold

from jetcron.cli.fires import detail
from jetcron.projections import backfill, fire_queries


def _dr() -> History:
    """`dr` every 5 s: deleted by bob at 00:00:11, created again by carol at 00:00:22."""
    h = History()
    h.create("dr", "@every 5s")  # 00:00:01
    for at in (5, 10):
        h.succeeded(h.trigger("dr", T0 + timedelta(seconds=at)))
    h.tick(timedelta(seconds=5))
    h.delete("dr", actor="bob", reason="moved")  # 00:00:11
    h.tick(timedelta(seconds=10))
    h.create("dr", "@every 5s", actor="carol")  # 00:00:22
    h.succeeded(h.trigger("dr", T0 + timedelta(seconds=25)))
    return h


def _fires_of_dr(views: Any) -> list[dict[str, Any]]:
    """`fires dr` from 00:00:00 to 00:00:25, asked a minute later."""
    params = {
        "name": "dr",
        "since": T0.isoformat(),
        "until": (T0 + timedelta(seconds=25)).isoformat(),
    }
    fires: list[dict[str, Any]] = fire_queries.fires_of(views, params, T0 + timedelta(minutes=1))[
        "fires"
    ]
    return fires


def test_fires_and_why_tell_the_time_between_a_deletion_and_the_next_creation() -> None:
    views = fold(_dr().events)
    rows = _fires_of_dr(views)

    told = [(r["utc"][14:19], r["fate"], r.get("count", 1)) for r in rows]
    assert told == [
        ("00:00", "not_created", 1),
        ("00:05", "triggered", 1),
        ("00:10", "triggered", 1),
        ("00:15", "deleted", 2),  # 00:15 and 00:20: one line
        ("00:25", "triggered", 1),
    ]
    gap = rows[3]
    assert gap["last_utc"] == "2024-01-01T00:00:20Z"
    assert (gap["reason"], "previous" in gap) == ("moved", False)
    assert [(e["actor"], e["what"]) for e in gap["evidence"]] == [
        ("bob", "schedule.deleted"),
        ("carol", "schedule.created"),
    ]
    # why, asked of a fire time in the gap, says the same
    story = fire_queries.why_of(
        views, {"name": "dr", "time": "00:00:20"}, T0 + timedelta(minutes=1)
    )
    assert story["fate"] == "deleted"
    assert [s["text"] for s in story["sentences"]] == [
        "2024-01-01T00:00:20Z: no fire",
        "The schedule was deleted by bob at 2024-01-01T00:00:11Z (moved): it fires no more",
        "A new schedule of that name was created by carol at 2024-01-01T00:00:22Z",
    ]


def test_backfill_leaves_the_fires_of_the_gap_alone() -> None:
    rows = _fires_of_dr(fold(_dr().events))

    _, left = backfill.plan(rows, rerun=False)

    assert {"utc": "2024-01-01T00:00:15Z", "fate": "deleted", "status": ""} | {
        "why": "the schedule was deleted then"
    } in left


def _audited() -> History:
    """`audited`: `0 3 * * *` in Berlin created at 04:00:01Z by alice, deleted at 06:50:02Z, and
    created again as `@every 1h` in UTC at 06:50:33Z by carol (newcomer19c #13)."""
    h = History(start=T0 + timedelta(hours=4))
    h.create("audited", "0 3 * * *", tz="Europe/Berlin")
    h.tick(timedelta(hours=2, minutes=50))
    h.delete("audited", actor="bob")
    h.tick(timedelta(seconds=30))
    h.create("audited", "@every 1h", actor="carol")
    return h


def test_why_judges_a_time_by_the_schedule_of_the_name_live_then() -> None:
    views = fold(_audited().events)
    now = T0 + timedelta(hours=8)

    def why(time: str) -> dict[str, Any]:
        return fire_queries.why_of(views, {"name": "audited", "time": time}, now)

    before = why("2024-01-01T03:00:00Z")  # a fire time of the hourly schedule, not of the first
    first_fire = why("2024-01-01T02:00:00Z")  # 03:00 in Berlin: the first one's, before it
    in_first = why("2024-01-01T05:00:00Z")  # while the first one lived: its spec judges
    current = why("2024-01-01T07:00:00Z")

    latest = "It was deleted since; the name's latest was created by carol at 2024-01-01T06:50:33Z"
    assert before["fate"] == "not_created"  # not the not-a-fire error about the first spec
    assert [s["text"] for s in before["sentences"]] == [
        "2024-01-01T03:00:00Z (04:00 CET Europe/Berlin): no fire",
        "The schedule did not exist yet: it was created only at 2024-01-01T04:00:01Z by alice",
        latest,
    ]
    assert first_fire["fate"] == "not_created"
    assert [s["text"] for s in first_fire["sentences"]][1:] == [
        "Not fired: the schedule was created only at 2024-01-01T04:00:01Z by alice",
        latest,
    ]
    assert in_first["fate"] == "not_a_fire"
    assert "is not a fire time of '0 3 * * *' in Europe/Berlin" in in_first["sentences"][0]["text"]
    assert (current["fire_time"], current["fate"]) == ("2024-01-01T07:00:00Z", "unrecorded")


def test_a_creation_in_the_second_of_a_fire_is_told_to_the_hundredth() -> None:
    h = History(start=T0 + timedelta(seconds=0.5), step=timedelta(seconds=5))
    h.create("dr", "@every 5s")  # 00:00:05.5
    h.delete("dr", actor="bob")  # 00:00:10.5
    h.create("dr", "@every 5s", actor="carol")  # 00:00:15.5: the 00:00:15 fire is in the gap
    views = fold(h.events)
    now = T0 + timedelta(minutes=1)
    params = {
        "name": "dr",
        "since": T0.isoformat(),
        "until": (T0 + timedelta(seconds=15)).isoformat(),
    }

    [gap] = [
        r for r in fire_queries.fires_of(views, params, now)["fires"] if r["fate"] == "deleted"
    ]
    story = fire_queries.why_of(views, {"name": "dr", "time": "00:00:15"}, now)

    assert detail(gap).endswith("created again by carol at 2024-01-01T00:00:15.50Z")
    assert story["sentences"][-1]["text"] == (
        "A new schedule of that name was created by carol at 2024-01-01T00:00:15.50Z, just after "
        "this fire time"
    )
