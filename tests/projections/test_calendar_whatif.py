"""Calendar what-if (the `calendar_whatif` query, pure): the recorded fires of every schedule
that names the calendar against the calendars' verdicts taken again with the change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from projection_factory import History, fold

from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.durations import window_seconds
from jetcron.domain.errors import CalendarNotFound
from jetcron.domain.events import CalendarCreated
from jetcron.errors import InvalidInput
from jetcron.projections import forecast

H = timedelta(hours=1)
MONDAY = datetime(2024, 1, 1, tzinfo=UTC)
NOW = MONDAY + timedelta(days=7)
SUNDAYS = CalendarDefinition(windows=["0 2 * * sun for 4h"])
TAKEN = "excluded by maint (window 0 2 * * sun for 4h)"


def week() -> History:
    """`maint` covers Sunday 02:00-06:00; `nightly` (03:00) excludes it, `office` (10:00) runs
    only within it, `other` (03:00) does not use it; each fire recorded as the ticker would."""
    h = History(start=MONDAY - H)
    h.add(CalendarCreated(name="maint", version=1, definition=SUNDAYS))
    h.create("nightly", "0 3 * * *", exclude=["maint"])
    h.create("office", "0 4 * * *", only_within=["maint"])
    h.create("other", "0 3 * * *")
    for day in range(7):
        at3, at4 = MONDAY + timedelta(days=day, hours=3), MONDAY + timedelta(days=day, hours=4)
        h.now = at3
        h.succeeded(h.trigger("other", at3), duration_s=1.0)
        if day == 6:
            h.skipped("nightly", at3, TAKEN)
            h.now = at4
            h.succeeded(h.trigger("office", at4), duration_s=1.0)
        elif day == 2:
            h.skipped("nightly", at3, "skipped by alice: disk swap")
            h.skipped("office", at4, "outside maint (only within)")
        else:
            h.succeeded(h.trigger("nightly", at3), duration_s=1.0)
            h.now = at4
            h.skipped("office", at4, "outside maint (only within)")
    return h


def ask(patch: dict[str, object], **params: object) -> dict[str, object]:
    return forecast.calendar_what_if(
        fold(week().events), {"name": "maint", "patch": patch, **params}, NOW
    )


def by_schedule(answer: dict[str, object]) -> dict[str, dict[str, object]]:
    return {s["schedule"]: s for s in answer["schedules"]}  # type: ignore[attr-defined,index]


def test_moving_the_window_gives_back_sunday_and_takes_saturday() -> None:
    answer = ask({"windows": ["0 2 * * sat for 4h"]}, n=7)

    assert answer["before"]["windows"] == SUNDAYS.windows  # type: ignore[index]
    assert answer["after"]["windows"] == ["0 2 * * sat for 4h"]  # type: ignore[index]
    nightly, office = by_schedule(answer)["nightly"], by_schedule(answer)["office"]
    assert (nightly["uses"], office["uses"]) == ("exclude", "only_within")
    assert "other" not in by_schedule(answer)
    # nightly: Wednesday was an operator's skip, so it is compared neither way
    assert (nightly["fires_before"], nightly["fires_after"], nightly["unchanged"]) == (5, 5, 4)
    assert [(c["change"], c["before"] or c["after"]) for c in nightly["changes"]] == [  # type: ignore[union-attr]
        ("vanished", "2024-01-06T03:00:00Z"),
        ("appeared", "2024-01-07T03:00:00Z"),
    ]
    vanished, appeared = nightly["changes"]  # type: ignore[misc]
    assert (vanished["fate"], vanished["status"]) == ("triggered", "succeeded")
    assert (appeared["fate"], appeared["reason"]) == ("skipped", TAKEN)
    assert nightly["moved"] == 0  # why: a calendar takes or leaves a fire, it never moves one
    # office runs only within: Sunday's run vanishes, Saturday's would have run
    assert [(c["change"], c["before"] or c["after"]) for c in office["changes"]] == [  # type: ignore[union-attr]
        ("appeared", "2024-01-06T04:00:00Z"),
        ("vanished", "2024-01-07T04:00:00Z"),
    ]
    assert "2024-01-14T03:00:00Z" not in nightly["next_before"]  # type: ignore[operator]
    assert "2024-01-13T03:00:00Z" in nightly["next_before"]  # type: ignore[operator]
    assert "2024-01-13T03:00:00Z" not in nightly["next_after"]  # type: ignore[operator]
    assert "2024-01-14T03:00:00Z" in nightly["next_after"]  # type: ignore[operator]
    assert office["next_before"][:2] == ["2024-01-14T04:00:00Z", "2024-01-21T04:00:00Z"]  # type: ignore[index]
    assert office["next_after"][:2] == ["2024-01-13T04:00:00Z", "2024-01-20T04:00:00Z"]  # type: ignore[index]


def test_the_same_calendar_changes_nothing_and_the_views_stay_as_they_were() -> None:
    views = fold(week().events)

    answer = forecast.calendar_what_if(views, {"name": "maint", "patch": {"description": "x"}}, NOW)

    for one in answer["schedules"]:
        assert (one["moved"], one["appeared"], one["vanished"]) == (0, 0, 0)
        assert one["next_before"] == one["next_after"]
    assert views.calendars.rows["maint"].definition == SUNDAYS


def test_the_window_limits_the_past() -> None:
    answer = ask({"windows": ["0 2 * * sat for 4h"]}, window_s=1.5 * 86400)

    nightly = by_schedule(answer)["nightly"]
    assert nightly["since"] == "2024-01-06T12:00:00Z"
    assert [c["change"] for c in nightly["changes"]] == ["appeared"]  # type: ignore[union-attr]


def test_an_unknown_calendar_or_a_bad_change_is_refused() -> None:
    views = fold(week().events)

    with pytest.raises(CalendarNotFound, match="calendar 'nope' not found"):
        forecast.calendar_what_if(views, {"name": "nope", "patch": {}}, NOW)
    with pytest.raises(InvalidInput, match="write 'CRON for DURATION'"):
        forecast.calendar_what_if(
            views, {"name": "maint", "patch": {"windows": ["0 2 * * sat"]}}, NOW
        )
    with pytest.raises(InvalidInput, match="at least one"):
        forecast.calendar_what_if(views, {"name": "maint", "patch": {"windows": []}}, NOW)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("0s", "--window must be longer than 0s"), ("soon", "--window: ")],
)
def test_window_seconds_names_the_option(text: str, problem: str) -> None:
    assert window_seconds("30d") == 30 * 86400
    with pytest.raises(InvalidInput, match=problem):
        window_seconds(text)


# -- schedule what-if with calendars -------------------------------------------------------


def test_a_schedule_what_if_compares_fires_that_run_under_the_calendars() -> None:
    views = fold(week().events)

    # a spec an hour later: Sunday was excluded before and still is (05:00 is inside 02-06)
    later = forecast.what_if(views, {"name": "nightly", "patch": {"spec": "0 5 * * *"}}, NOW)
    # leaving the calendar: Sunday's fire comes back
    free = forecast.what_if(views, {"name": "nightly", "patch": {"exclude": []}, "n": 7}, NOW)

    assert (later["moved"], later["appeared"], later["vanished"]) == (6, 0, 0), later["changes"]
    assert later["before"]["exclude"] == later["after"]["exclude"] == ["maint"]
    assert "2024-01-14T05:00:00Z" not in later["next_after"]
    assert [(c["change"], c["after"]) for c in free["changes"]] == [
        ("appeared", "2024-01-07T03:00:00Z")
    ]
    assert "exclude" not in free["after"] and "2024-01-14T03:00:00Z" in free["next_after"]
    with pytest.raises(InvalidInput, match="unknown calendar 'nope'"):
        forecast.what_if(views, {"name": "nightly", "patch": {"exclude": ["nope"]}}, NOW)
