"""What DST did to a fire, in words (domain/dst.py): the swallowed wall time and its own day."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jetcron.domain.dst import dst_notes


def test_a_spring_forward_gap_names_the_wall_time_and_its_day() -> None:
    # 2026-03-29 02:30 does not exist in Berlin; the fire comes at 03:00 CEST (01:00Z)
    notes = dst_notes(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "30 2 * * *", "Europe/Berlin")

    assert notes == [
        "02:30 does not exist on 2026-03-29 in Europe/Berlin; per the gap rule it fires at 03:00 CEST"
    ]


def test_a_whole_lost_day_names_the_day_that_was_lost_not_the_next() -> None:
    # Samoa skipped 2011-12-30: 23:59:59 on the 29th (-10) was followed by 00:00 on the 31st (+14)
    when = datetime(2011, 12, 30, 10, 0, tzinfo=UTC)

    notes = dst_notes(when, "0 9 * * *", "Pacific/Apia")

    assert notes == [
        "09:00 does not exist on 2011-12-30 in Pacific/Apia; per the gap rule it fires at 00:00 +14:00"
    ]


def test_an_ordinary_fire_has_no_note() -> None:
    assert dst_notes(datetime(2026, 3, 30, 7, 0, tzinfo=UTC), "0 9 * * *", "Europe/Berlin") == []


@pytest.mark.parametrize(
    ("spec", "tz", "prev", "when", "said"),
    [
        pytest.param(
            "*/20 1 * * *", "Europe/London", "2027-03-27T01:40:00Z", "2027-03-29T00:00:00Z",
            ["the clocks jumped from 01:00 to 02:00 on 2027-03-28 in Europe/London: no fire at "
             "01:00, 01:20, 01:40 (an interval-like spec has no fire in the gap)"],
            id="spring-gap",
        ),
        pytest.param(
            "*/15 2 * * *", "Australia/Lord_Howe", "2026-10-02T16:15:00Z", "2026-10-03T15:30:00Z",
            ["the clocks jumped from 02:00 to 02:30 on 2026-10-04 in Australia/Lord_Howe: no "
             "fire at 02:00, 02:15 (an interval-like spec has no fire in the gap)"],
            id="lord-howe-30min",
        ),
        pytest.param(
            "0 * * * *", "Pacific/Apia", "2011-12-30T09:00:00Z", "2011-12-30T10:00:00Z",
            ["the clocks jumped from 2011-12-30 00:00 to 2011-12-31 00:00 in Pacific/Apia: no "
             "fire at 00:00, 01:00, 02:00 … (24 in all) (an interval-like spec has no fire in "
             "the gap)"],
            id="samoa-lost-day",
        ),
        # a gap between fires that swallowed none of its wall times, a fixed-time spec (the
        # gap rule's note is dst_notes'), and the first fire (no previous one) say nothing
        pytest.param(
            "0 3 * * *", "Europe/London", "2027-03-27T03:00:00Z", "2027-03-28T02:00:00Z", [],
            id="nothing-lost",
        ),
        pytest.param(
            "30 1 * * *", "Europe/London", "2027-03-27T01:30:00Z", "2027-03-28T01:00:00Z", [],
            id="fixed-time",
        ),
        pytest.param("*/20 1 * * *", "Europe/London", None, "2027-03-29T00:00:00Z", [], id="first"),
    ],
)  # fmt: skip
def test_an_interval_like_spec_says_which_fires_a_gap_swallowed(
    spec: str, tz: str, prev: str | None, when: str, said: list[str]
) -> None:
    from jetcron.domain.dst import gap_notes

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    assert gap_notes(at(prev) if prev else None, at(when), spec, tz) == said
