"""What DST did to a fire, in words (domain/dst.py): the swallowed wall time and its own day."""

from __future__ import annotations

from datetime import UTC, datetime

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
