"""One wording for a date that does not exist, wherever a date or a time is read (newcomer19a #5, #6)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jetcron.domain.days import ISO_HINT, bad_time, missing_day
from jetcron.domain.durations import time_or_ago
from jetcron.domain.spec import parse_spec
from jetcron.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("2027-02-30", "'2027-02-30' does not exist: February 2027 has 28 days"),
        ("2028-02-30T03:00", "'2028-02-30' does not exist: February 2028 has 29 days"),
        (" 2026-04-31 09:00", "'2026-04-31' does not exist: April 2026 has 30 days"),
        ("2026-13-01", "'2026-13-01' does not exist: there is no month 13"),
        ("2026-02-28", None),
        ("2026-02-3", None),
        ("soon", None),
    ],
)
def test_missing_day(text: str, said: str | None) -> None:
    assert missing_day(text) == said


def test_a_bad_time_names_the_missing_day_else_how_to_write_one() -> None:
    assert bad_time("2027-02-30", ISO_HINT) == (
        "'2027-02-30' does not exist: February 2027 has 28 days"
    )
    assert bad_time("2026-02-30T03:00", "use ISO-8601 or HH:MM") == (
        "invalid time '2026-02-30T03:00': '2026-02-30' does not exist: February 2026 has 28 days"
    )
    assert bad_time("3 pm", ISO_HINT) == f"invalid time '3 pm': {ISO_HINT}"
    with pytest.raises(ValueError, match="'2026-02-30' does not exist"):
        time_or_ago("2026-02-30", datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(InvalidInput, match="@at '2026-02-30T10:00': '2026-02-30' does not exist"):
        parse_spec("@at 2026-02-30T10:00")
