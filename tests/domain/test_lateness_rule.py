"""domain/lateness.py: late counts from the fire time plus its chosen jitter; pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jetcron.domain.lateness import is_late, lateness_s

FIRE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after_s", "jitter_s", "late_s", "late"),
    [
        pytest.param(2.0, 0.0, 2.0, False, id="no-jitter"),
        pytest.param(402.0, 400.0, 2.0, False, id="jitter-is-no-lateness"),
        pytest.param(461.0, 400.0, 61.0, True, id="late-after-its-jitter"),
        pytest.param(61.0, 0.0, 61.0, True, id="late-without-jitter"),
        pytest.param(60.0, 0.0, 60.0, False, id="missed-after-is-exclusive"),
        pytest.param(-1.0, 0.0, -1.0, False, id="a-clock-behind"),
    ],
)
def test_lateness_counts_from_fire_plus_jitter(
    after_s: float, jitter_s: float, late_s: float, late: bool
) -> None:
    at = FIRE + timedelta(seconds=after_s)
    assert lateness_s(at, FIRE, jitter_s) == pytest.approx(late_s)
    assert is_late(at, FIRE, jitter_s) is late
