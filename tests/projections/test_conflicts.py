"""Conflicts: overlapping runs of schedules sharing a target or a tag (table), and the
`conflicts` query with durations from recent runs (pure, no server)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from projection_factory import T0, History, fold

from jetcron.projections import forecast
from jetcron.projections.conflicts import (
    Estimate,
    Member,
    conflicts,
    estimate,
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
