"""`fires` labels a fire started over 60 s late by why it was late, by the rule `why` tells
(projections/fates.late_cause): catch-up chose it, or it waited for the run before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from jetcron.cli.fires import detail
from jetcron.projections.fates import Fire, late_cause

T = datetime(2026, 12, 3, 7, 15, tzinfo=UTC)


def row(late_s: float, buffered_after_s: float | None) -> dict[str, object]:
    buffered = None if buffered_after_s is None else T + timedelta(seconds=buffered_after_s)
    fire = Fire(
        fire_time=T, fate="triggered", status="running", run_id="3770a89f00", attempt=1,
        executor="ex4", late_s=late_s, catchup="latest", buffered_at=buffered,
        blocking_run_id="5e1da21d00" if buffered else "",
        late_cause=late_cause(late_s, T, buffered),
    )  # fmt: skip
    out: dict[str, object] = msgspec.to_builtins(fire)
    return out


@pytest.mark.parametrize(
    ("late_s", "buffered_after_s", "said"),
    [
        # newcomer19b F8: buffered on time behind a 70 s run, started 72 s late
        (72.0, 0.5, "running, attempt 1, on ex4, 1m12s late (waited for the run before it), "
         "buffered behind 5e1da21d"),
        (90.0, None, "running, attempt 1, on ex4, 1m30s late (catch-up latest)"),
        # queued by catch-up `all` after an outage: found late when it was buffered
        (200.0, 150.0, "running, attempt 1, on ex4, 3m20s late (catch-up latest), "
         "buffered behind 5e1da21d"),
        (30.0, None, "running, attempt 1, on ex4"),
    ],
    ids=["buffered-on-time-waited", "found-late", "queued-late", "on-time"],
)  # fmt: skip
def test_a_late_start_is_labelled_by_its_real_cause(
    late_s: float, buffered_after_s: float | None, said: str
) -> None:
    assert detail(row(late_s, buffered_after_s)) == said
