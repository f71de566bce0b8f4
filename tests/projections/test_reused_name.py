"""A reused name's earlier schedule: its fires are marked `previous` in fires and why; no server."""

from __future__ import annotations

from datetime import timedelta

from projection_factory import T0, History, fold

from jetcron.projections import fire_queries

NOW = T0 + timedelta(hours=1)


def test_fires_and_why_mark_the_earlier_schedules_fires() -> None:
    h = History(step=timedelta(minutes=1))  # created at 00:01
    h.create("hist", "*/5 * * * *")
    h.succeeded(h.trigger("hist", T0 + timedelta(minutes=5)))
    h.tick(timedelta(minutes=4))
    h.delete("hist", reason="gone")  # at 00:08
    h.create("hist", "*/5 * * * *")  # at 00:09: the 00:10 fire is the new schedule's
    h.succeeded(h.trigger("hist", T0 + timedelta(minutes=15)))
    views = fold(h.events)
    since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=15)
    params = {"name": "hist", "since": since.isoformat(), "until": until.isoformat()}

    fires = fire_queries.fires_of(views, params, NOW)["fires"]
    story = fire_queries.why_of(views, {"name": "hist", "time": "00:05"}, NOW)
    current = fire_queries.why_of(views, {"name": "hist", "time": "00:15"}, NOW)

    assert [(f["utc"][11:16], f["fate"], f.get("previous", False)) for f in fires] == [
        ("00:05", "triggered", True),
        ("00:10", "unrecorded", False),
        ("00:15", "triggered", False),
    ]
    texts = [s["text"] for s in story["sentences"]]
    assert texts[1] == (
        "(previous) A fire of an earlier schedule of this name: it was deleted, and alice "
        "created the name again at 2024-01-01T00:09:00Z"
    )
    assert not any("previous" in s["text"] for s in current["sentences"])
