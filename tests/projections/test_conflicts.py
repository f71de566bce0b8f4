"""Conflicts: overlapping runs of schedules sharing a target or a tag (table), and the
`conflicts` query with durations from recent runs (pure, no server)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from projection_factory import T0, History, fold

from jetcron.projections import forecast
from jetcron.projections.conflicts import (
    Estimate,
    Member,
    capacity,
    conflicts,
    estimate,
    full_spans,
    likely,
    overlapping,
)

M = timedelta(minutes=1)


def at(*minutes: float) -> list[datetime]:
    return [T0 + m * M for m in minutes]


@pytest.mark.parametrize(
    ("a", "da", "b", "db", "count", "first"),
    [
        (at(0), 10, at(5), 10, 1, 5),
        (at(0), 5, at(5), 10, 0, None),  # a ends exactly when b starts
        (at(5), 10, at(0), 5, 0, None),
        (at(0, 60), 90, at(30, 120), 1, 2, 30),  # a long run covers two of b's
        (at(10), 1, at(0), 30, 1, 10),  # b's long run covers a
        (at(0), 1, at(0), 1, 1, 0),  # same instant
        ([], 10, at(0), 10, 0, None),
    ],
    ids=["overlap", "touching", "touching-reversed", "two", "inside", "same-time", "no-fires"],
)
def test_overlapping(
    a: list[datetime], da: float, b: list[datetime], db: float, count: int, first: float | None
) -> None:
    found = overlapping(a, da * M, b, db * M)

    assert found == (count, None if first is None else T0 + first * M)


@pytest.mark.parametrize(
    ("p95", "timeout", "expected"),
    [
        (2.5, 3600.0, Estimate(seconds=2.5, source="p95")),
        (None, 600.0, Estimate(seconds=600.0, source="timeout")),
        (None, None, Estimate(seconds=60.0, source="default")),
    ],
    ids=["history", "timeout", "neither"],
)
def test_estimate(p95: float | None, timeout: float | None, expected: Estimate) -> None:
    assert estimate(p95, timeout) == expected


def member(name: str, fires: list[datetime], minutes: float, **kw: object) -> Member:
    kw.setdefault("target", "nas")
    kw.setdefault("checked_until", T0 + timedelta(days=1))
    return Member(
        name=name,
        fires=tuple(fires),
        run=Estimate(seconds=minutes * 60, source="p95"),
        **kw,  # type: ignore[arg-type]
    )


def test_only_pairs_that_share_something_and_overlap_conflict() -> None:
    members = [
        member("backup", at(0, 60), 30),
        member("scrub", at(10), 5),  # same target, inside backup's first run
        member("lights", at(0), 5, target="reef"),  # overlaps in time, shares nothing
        member("report", at(20), 5, target="web", tags=("db",)),
        member("vacuum", at(22), 5, target="db-host", tags=("db", "nightly")),
        member("rebalance", at(45), 5),  # same target, between backup's runs
    ]

    found = conflicts(members).conflicts

    assert [(c.a, c.b, c.shared, c.overlaps, c.first) for c in found] == [
        ("backup", "scrub", ["target nas"], 1, T0 + 10 * M),
        ("report", "vacuum", ["tag db"], 1, T0 + 22 * M),
    ]
    assert [(c.a, c.b) for c in conflicts(members, involving="vacuum").conflicts] == [
        ("report", "vacuum")
    ]


def test_a_capped_schedule_is_compared_only_up_to_its_last_fire() -> None:
    members = [
        member("dense", at(0, 1), 0.5, checked_until=T0 + 1 * M),
        member("late", at(0.2, 1.2), 0.1),  # 1.2 would overlap dense's 1, but lies past it
    ]

    (found,) = conflicts(members).conflicts

    assert (found.overlaps, found.until) == (1, T0 + 1 * M)


def test_the_query_uses_recent_p95_then_timeout_then_the_default() -> None:
    h = History(start=T0)
    h.create("backup", "0 3 * * *", target="nas")
    h.create("scrub", "10 3 * * *", target="nas", timeout_s=None)
    h.create("report", "30 3 * * *", target="nas", timeout_s=1200.0)
    for day in range(3):
        h.now = T0 + timedelta(days=day, hours=3)
        h.succeeded(h.trigger("backup", h.now), duration_s=1800.0)
    now = h.now + timedelta(hours=1)

    answer = forecast.conflicts_of(fold(h.events), {"within_s": 2 * 86400}, now)

    pairs = {(c["a"], c["b"]): c for c in answer["conflicts"]}
    assert set(pairs) == {("backup", "scrub")}, pairs
    c = pairs[("backup", "scrub")]
    assert (c["overlaps"], c["first"], c["shared"]) == (2, "2024-01-04T03:10:00Z", ["target nas"])
    assert c["a_run"] == {"seconds": 1800.0, "source": "p95"}
    assert c["b_run"] == {"seconds": 60.0, "source": "default"}
    # report's 20-minute timeout starts after backup's 30 minutes have ended
    assert answer["default_run_s"] == 60.0


@pytest.mark.parametrize(
    ("overlap", "expected"),
    [("skip", 1), ("buffer_one", 1), ("cancel_previous", 1), ("allow", 60)],
)
def test_a_job_that_cannot_overlap_itself_starts_no_run_while_its_last_one_lasts(
    overlap: str, expected: int
) -> None:
    # why: a newcomer's `@every 1m` job without history is assumed to take its 1h timeout;
    # unless it allows overlap, it starts once in that hour, not sixty times
    h = History(start=T0)
    h.create("minutely", "* * * * *", overlap=overlap)
    h.create("hourly", "0 * * * *", timeout_s=None)

    answer = forecast.conflicts_of(fold(h.events), {"within_s": 3600}, T0 + timedelta(seconds=30))

    (c,) = answer["conflicts"]
    assert (c["a"], c["b"], c["overlaps"]) == ("hourly", "minutely", expected)
    assert c["b_run"] == {"seconds": 3600.0, "source": "timeout"}


def test_the_work_budget_stops_in_name_order_and_says_so() -> None:
    members = [member(f"s{i}", at(0), 5) for i in range(4)]  # 6 pairs, one fire each

    found = conflicts(members, budget=3)
    named = conflicts(members, involving="s3", budget=3)

    assert (found.checked, found.complete) == (3, False)
    assert [(c.a, c.b) for c in found.conflicts] == [("s0", "s1"), ("s0", "s2"), ("s0", "s3")]
    assert (named.checked, named.complete) == (3, True)
    assert {(c.a, c.b) for c in named.conflicts} == {("s0", "s3"), ("s1", "s3"), ("s2", "s3")}


def test_fires_are_filled_in_only_for_the_members_a_pair_needs() -> None:
    bare = [member("a", [], 5), member("b", [], 5), member("c", [], 5, target="elsewhere")]
    asked: list[str] = []

    def timed(m: Member) -> Member:
        asked.append(m.name)
        return member(m.name, at(0), 5, target=m.target)

    found = conflicts(bare, timed=timed)

    assert [(c.a, c.b) for c in found.conflicts] == [("a", "b")] and asked == ["a", "b"]


# newcomer18a #6: what `schedule add/update` warn of (crowded): on one host every job shares
# `default`; overlaps count only where more runs are in flight than its executors run at once


@pytest.mark.parametrize(
    ("p95", "timeout", "expected"),
    [
        (2.5, 3600.0, Estimate(seconds=2.5, source="p95")),
        (None, 3600.0, Estimate(seconds=60.0, source="assumed")),
        (None, 5.0, Estimate(seconds=5.0, source="assumed")),
        (None, None, Estimate(seconds=60.0, source="assumed")),
    ],
    ids=["history", "timeout-is-no-length", "shorter-timeout", "neither"],
)
def test_likely(p95: float | None, timeout: float | None, expected: Estimate) -> None:
    assert likely(p95, timeout) == expected


@pytest.mark.parametrize(
    ("target", "executors", "expected"),
    [
        ("default", [(["vm", "default"], 4)], 4),
        ("nas", [(["vm", "default"], 4), (["ex2", "default", "nas"], 2)], 2),
        ("default", [(["vm", "default"], 4), (["ex2", "default", "nas"], 2)], 6),  # a pool
        ("all:reef", [(["a", "reef"], 4), (["b", "reef"], 2)], 2),  # each member runs each
        ("default", [(["old", "default"], None)], 1),  # an executor too old to say
        ("nowhere", [(["vm", "default"], 4)], 0),
    ],
    ids=["one-host", "host", "pool", "fan-out", "old-executor", "nobody"],
)
def test_capacity(
    target: str, executors: list[tuple[list[str], int | None]], expected: int
) -> None:
    assert capacity(target, executors) == expected


def test_full_spans_are_where_more_runs_than_capacity_are_in_flight() -> None:
    five = Estimate(seconds=300, source="p95")
    runs = [(at(0, 30), five), (at(2), five), (at(4, 5), five)]  # 0-5, 30-35; 2-7; 4-9, 5-10

    assert full_spans(runs, 1) == [(T0 + 2 * M, T0 + 9 * M)]
    assert full_spans(runs, 2) == [(T0 + 4 * M, T0 + 7 * M)]
    assert full_spans(runs, 3) == []  # at 5 one run ends as another starts: still three
    assert full_spans([(at(0), five), (at(5), five)], 1) == []  # touching runs do not overlap
    blink = Estimate(seconds=0.5, source="p95")
    assert full_spans([(at(0), blink), (at(0), blink)], 1) == []  # a wait under a second


def test_only_overlaps_inside_a_span_count() -> None:
    spans = [(T0 + 10 * M, T0 + 12 * M)]

    assert overlapping(at(0, 9), 5 * M, at(1, 11), 5 * M) == (2, T0 + 1 * M)
    assert overlapping(at(0, 9), 5 * M, at(1, 11), 5 * M, spans) == (1, T0 + 11 * M)
    assert overlapping(at(0), 5 * M, at(1), 5 * M, spans) == (0, None)


def one_host(h: History, executors: int = 4, name: str = "daily") -> dict[str, Any]:
    """The crowded answer for `name`, with one executor serving default online."""
    now = h.now + timedelta(minutes=1)
    params = {"within_s": 2 * 86400, "name": name, "crowded": True}
    return forecast.conflicts_of(fold(h.events), params, now, [(["vm", "default"], executors)])


def test_a_daily_job_added_beside_frequent_short_ones_on_one_host_is_no_conflict() -> None:
    """The newcomer's first adds: a daily job "overlapped" an `echo hi` every 10s, as it was
    taken to last its whole 1h timeout. Crowded, it is 1m, and default runs 4 at once."""
    h = History(start=T0)
    for name in ("hello", "offset", "tick"):
        h.create(name, "@every 10s")
        for i in range(3):
            h.now = T0 + timedelta(seconds=10 * i)
            h.succeeded(h.trigger(name, h.now), duration_s=0.02)
    h.create("daily", "30 2 * * *")

    everything = forecast.conflicts_of(
        fold(h.events), {"within_s": 2 * 86400, "name": "daily"}, h.now + timedelta(minutes=1)
    )
    warned = one_host(h)
    alone = one_host(h, executors=1)  # one slot: daily meets a 10s job now and then

    assert {c["b"] for c in everything["conflicts"]} == {"hello", "offset", "tick"}
    assert everything["conflicts"][0]["b_run"]["source"] in ("timeout", "p95")
    assert warned["conflicts"] == [] and warned["capacity"] == {}
    many = one_host(h, executors=2)  # four jobs start on one second, for 20ms

    assert [(c["b"], c["overlaps"]) for c in alone["conflicts"]] == [
        ("hello", 6),
        ("offset", 6),
        ("tick", 6),
    ]
    assert alone["capacity"] == {"default": 1}
    assert many["conflicts"] == []


def test_five_jobs_at_one_minute_on_a_four_slot_host_are_a_conflict() -> None:
    h = History(start=T0)
    for i in range(4):
        h.create(f"nightly{i}", "30 2 * * *")
    h.create("daily", "30 2 * * *")
    h.create("tagged", "0 4 * * *", tags=["db"])  # a tag: any overlap counts
    h.create("daily-db", "0 4 * * *", tags=["db"])

    warned = one_host(h)
    fewer = one_host(h, executors=8)
    tagged = one_host(h, executors=8, name="daily-db")

    pairs = [(c["a"], c["b"], c["overlaps"], c["first"][11:]) for c in warned["conflicts"]]
    assert pairs == [("daily", f"nightly{i}", 2, "02:30:00Z") for i in range(4)]
    assert warned["capacity"] == {"default": 4}
    assert warned["conflicts"][0]["a_run"] == {"seconds": 60.0, "source": "assumed"}
    assert fewer["conflicts"] == []
    [(c, shared)] = [(c["a"], c["shared"]) for c in tagged["conflicts"]]
    assert (c, shared) == ("daily-db", ["target default", "tag db"])
