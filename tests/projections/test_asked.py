"""The times `why` and `skip` are asked about: a wall time a spring-forward gap swallowed
means the gap's end for a fixed-time spec and no fire for an interval-like one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.projections.asked import lost_in_gap, parse_asked

NOW = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "tz", "text", "lost"),
    [
        pytest.param(
            "30 2 * * *", "Europe/Berlin", "2026-03-29T02:30", False, id="spring-gap-fixed"
        ),
        pytest.param(
            "*/15 * * * *", "Europe/Berlin", "2026-03-29T02:30", True, id="spring-gap-interval"
        ),
        pytest.param(
            "@every 15m", "Europe/Berlin", "2026-03-29T02:15", True, id="spring-gap-every"
        ),
        pytest.param(
            "*/15 * * * *", "Australia/Lord_Howe", "2027-10-03T02:15", True, id="lord-howe-30min"
        ),
        pytest.param(
            "*/15 * * * *", "Europe/Berlin", "2026-10-25T02:30", False, id="autumn-overlap"
        ),
    ],
)
def test_a_gap_time_is_lost_only_for_interval_like_specs(
    spec: str, tz: str, text: str, lost: bool
) -> None:
    asked = parse_asked(text, tz, NOW, spec)
    assert bool(asked.lost) is lost
    assert any("per the gap rule" in n for n in asked.notes) is (not lost and "03-29" in text)


def test_a_lost_time_names_the_fires_on_either_side_of_the_gap() -> None:
    d = ScheduleDefinition(spec="*/15 * * * *", tz="Australia/Lord_Howe", job=Job(command=["true"]))
    asked = parse_asked("2027-10-03T02:15", d.tz, NOW, d.spec)
    assert lost_in_gap(asked, d) == (
        "02:15 does not exist on 2027-10-03 in Australia/Lord_Howe (the clocks jump forward), "
        "so it is no fire time of '*/15 * * * *': an interval-like spec has no fire in the gap; "
        "the nearest are 2027-10-02T15:15Z (01:45 +10:30 Australia/Lord_Howe) and "
        "2027-10-02T15:30Z (02:30 +11:00 Australia/Lord_Howe)"
    )
    assert lost_in_gap(parse_asked("2027-10-03T03:00", d.tz, NOW, d.spec), d) == ""


def test_why_of_a_gap_time_of_an_interval_spec_is_no_fire_and_names_the_fires_around_it() -> None:
    from projection_factory import History, fold

    from jetcron.projections import fire_queries

    h = History()
    h.create("lh", "*/15 * * * *", tz="Australia/Lord_Howe")
    views = fold(h.events)
    asked = {"name": "lh", "time": "2027-10-03T02:15"}
    story = fire_queries.why_of(views, asked, NOW)
    assert story["fate"] == "not_a_fire", story
    [said] = [s["text"] for s in story["sentences"]]
    assert "02:15 does not exist on 2027-10-03 in Australia/Lord_Howe" in said, said
    assert "no fire time of '*/15 * * * *'" in said and "the nearest are" in said, said
    fixed = History()
    fixed.create("nightly", "30 2 * * *", tz="Europe/Berlin")
    gap = fire_queries.why_of(
        fold(fixed.events), {"name": "nightly", "time": "2026-03-29T02:30"}, NOW
    )
    assert gap["fate"] != "not_a_fire" and "per the gap rule" in gap["sentences"][0]["text"], gap
