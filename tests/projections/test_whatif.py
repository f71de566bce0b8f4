"""What-if: pairing past fires with a changed timing's (table), and the `whatif` query (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from projection_factory import T0, History, fold

from jetcron.domain.errors import InvalidSpec, ScheduleNotFound
from jetcron.domain.fires import fires_between
from jetcron.projections import forecast
from jetcron.projections.whatif import compare, tolerance

H = timedelta(hours=1)


def at(*hours: float) -> list[datetime]:
    return [T0 + h * H for h in hours]


def shown(before: list[datetime], after: list[datetime], tol: timedelta | None) -> list[str]:
    out = []
    for c in compare(before, after, tol).changes:
        b = f"{(c.before - T0) / H:g}" if c.before else "-"
        a = f"{(c.after - T0) / H:g}" if c.after else "-"
        out.append(f"{c.kind} {b}>{a}")
    return out


@pytest.mark.parametrize(
    ("before", "after", "tol", "changes", "unchanged"),
    [
        (at(3, 27, 51), at(3, 27, 51), 12 * H, [], 3),
        (at(3, 27), at(4, 28), 12 * H, ["moved 3>4", "moved 27>28"], 0),
        (at(3, 27, 51), at(3, 27), 12 * H, ["vanished 51>-"], 2),
        (at(3), at(3, 15), 12 * H, ["appeared ->15"], 1),
        # the distance must be strictly below the tolerance
        (at(3), at(15), 12 * H, ["vanished 3>-", "appeared ->15"], 0),
        # nearest first: 10 pairs with 10.5, not with 9.8's earlier neighbour
        (at(10, 20), at(9.4, 10.5), 1 * H, ["moved 10>10.5", "vanished 20>-", "appeared ->9.4"], 0),
        # no tolerance (two one-offs): anything pairs
        (at(3), at(500), None, ["moved 3>500"], 0),
        ([], at(1, 2), 12 * H, ["appeared ->1", "appeared ->2"], 0),
    ],
    ids=[
        "same",
        "daily-an-hour-later",
        "weekend-dropped",
        "extra-fire",
        "half-a-gap-is-not-a-move",
        "nearest-wins",
        "one-offs",
        "none-before",
    ],
)
def test_compare(
    before: list[datetime],
    after: list[datetime],
    tol: timedelta | None,
    changes: list[str],
    unchanged: int,
) -> None:
    assert sorted(shown(before, after, tol)) == sorted(changes)
    assert compare(before, after, tol).unchanged == unchanged


def test_every_15m_to_every_10m_keeps_the_half_hours_and_moves_nothing() -> None:
    tol = tolerance(("*/15 * * * *", "UTC"), ("*/10 * * * *", "UTC"))
    old = fires_between("*/15 * * * *", "UTC", T0 - H, T0)
    new = fires_between("*/10 * * * *", "UTC", T0 - H, T0)

    found = compare(old, new, tol)

    assert tol == timedelta(minutes=5)
    assert (found.unchanged, [c.kind for c in found.changes].count("moved")) == (2, 0)
    assert sorted(c.kind for c in found.changes) == ["appeared"] * 4 + ["vanished"] * 2


@pytest.mark.parametrize(
    ("before", "after", "tol"),
    [
        (("0 3 * * *", "UTC"), ("0 4 * * *", "Europe/Berlin"), 12 * H),
        (("@every 90s", "UTC"), ("0 * * * *", "UTC"), timedelta(seconds=45)),
        (("@at 2030-01-01T00:00", "UTC"), ("0 3 * * *", "UTC"), 12 * H),
        (("@at 2030-01-01T00:00", "UTC"), ("@at 2030-01-02T00:00", "UTC"), None),
    ],
    ids=["daily", "every", "at-to-daily", "two-ats"],
)
def test_tolerance_is_half_the_smaller_usual_gap(
    before: tuple[str, str], after: tuple[str, str], tol: timedelta | None
) -> None:
    assert tolerance(before, after) == tol


# -- the query ---------------------------------------------------------------------------

NIGHTLY = "0 3 * * *"
MONDAY = datetime(2024, 1, 1, tzinfo=UTC)  # T0 is a Monday


def week(pause_day: int | None = None) -> tuple[History, datetime]:
    """`nightly` at 03:00 from Monday: each fire triggered and succeeded, for 7 days."""
    h = History(start=MONDAY)
    h.create("nightly", NIGHTLY)
    for day in range(7):
        fire = MONDAY + timedelta(days=day, hours=3)
        if day == pause_day:
            h.now = fire - H
            h.pause("nightly", "disk swap")
            h.tick(2 * H)
            h.resume("nightly")
            continue
        h.now = fire
        h.succeeded(h.trigger("nightly", fire), duration_s=2.0)
    return h, MONDAY + timedelta(days=7)


def test_weekdays_an_hour_later_moves_five_fires_and_drops_the_weekend() -> None:
    h, now = week()
    patch = {"spec": "0 4 * * mon-fri"}

    answer = forecast.what_if(fold(h.events), {"name": "nightly", "patch": patch}, now)

    assert (answer["moved"], answer["vanished"], answer["appeared"], answer["unchanged"]) == (
        5,
        2,
        0,
        0,
    )
    first = answer["changes"][0]
    assert (first["change"], first["before"], first["after"], first["shift_s"]) == (
        "moved",
        "2024-01-01T03:00:00Z",
        "2024-01-01T04:00:00Z",
        3600.0,
    )
    assert (first["fate"], first["status"]) == ("triggered", "succeeded")
    assert [c["before"] for c in answer["changes"] if c["change"] == "vanished"] == [
        "2024-01-06T03:00:00Z",
        "2024-01-07T03:00:00Z",
    ]
    assert answer["next_before"][:2] == ["2024-01-08T03:00:00Z", "2024-01-09T03:00:00Z"]
    assert answer["next_after"][:2] == ["2024-01-08T04:00:00Z", "2024-01-09T04:00:00Z"]
    assert len(answer["next_after"]) == 5
    assert (answer["before"]["spec"], answer["after"]["spec"]) == (NIGHTLY, "0 4 * * mon-fri")


def test_a_fire_the_schedule_was_paused_for_is_not_compared_either_way() -> None:
    h, now = week(pause_day=2)

    patch = {"spec": "30 3 * * *"}

    answer = forecast.what_if(fold(h.events), {"name": "nightly", "patch": patch}, now)

    assert (answer["fires_before"], answer["fires_after"], answer["moved"]) == (6, 6, 6)
    assert "2024-01-03" not in str(answer["changes"])


def test_a_new_zone_moves_every_fire_by_its_offset() -> None:
    h, now = week()

    answer = forecast.what_if(
        fold(h.events), {"name": "nightly", "patch": {"tz": "America/New_York"}}, now
    )

    # the first New York 03:00 (08:00Z Monday) is one of the 7 before `now`; Sunday's is not
    assert answer["moved"] == 7 and {c["shift_s"] for c in answer["changes"]} == {5 * 3600.0}


def test_the_window_limits_the_past_and_nothing_changes_in_the_views() -> None:
    h, now = week()
    views = fold(h.events)
    params = {"name": "nightly", "patch": {"spec": "0 4 * * *"}, "window_s": 2 * 86400}

    answer = forecast.what_if(views, params, now)

    assert (answer["since"], answer["moved"]) == ("2024-01-06T00:00:00Z", 2)
    assert fold(h.events).schedules.rows["nightly"].definition.spec == NIGHTLY


def test_an_unknown_schedule_or_a_bad_spec_is_refused() -> None:
    h, now = week()
    views = fold(h.events)

    with pytest.raises(ScheduleNotFound):
        forecast.what_if(views, {"name": "nope", "patch": {}}, now)
    with pytest.raises(InvalidSpec, match="minute"):
        forecast.what_if(views, {"name": "nightly", "patch": {"spec": "61 * * * *"}}, now)
