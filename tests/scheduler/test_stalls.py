"""The stalls of appends a ticker saw (scheduler/stalls.py): every one kept, each from the
storage alarm's own start, in the ticker's clock (nc21c #1)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from jetcron.domain.definition import LATE_LOG_FULL
from jetcron.log.errors import STORAGE
from jetcron.scheduler.late_cause import cause
from jetcron.scheduler.stalls import StallWatch

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def full(watch: StallWatch) -> list[tuple[datetime, datetime | None]]:
    return [(since, until) for kind, since, until in watch.last if kind == LATE_LOG_FULL]


def test_a_stall_begins_when_the_alarm_was_raised_not_when_the_ticker_looked() -> None:
    watch = StallWatch()
    try:
        STORAGE.refused("jetcron.trigger.x", time.time() - 30)  # a stuck store, known late
        watch.observe_alarm(T)
        STORAGE.accepted()
        watch.observe_alarm(T + timedelta(seconds=20))
    finally:
        STORAGE.accepted()
    [(since, until)] = full(watch)
    assert abs((since - (T - timedelta(seconds=30))).total_seconds()) < 1
    assert until == T + timedelta(seconds=20)
    # a fire due 25 s before the ticker looked was in the stall
    assert cause(T - timedelta(seconds=25), watch.last).startswith(f"{LATE_LOG_FULL} from ")


def test_every_stall_is_kept_not_only_the_last() -> None:
    watch = StallWatch()
    for start in (0, 100):
        watch.observe(True, T + timedelta(seconds=start))
        watch.observe(False, T + timedelta(seconds=start + 50))
    assert full(watch) == [
        (T, T + timedelta(seconds=50)),
        (T + timedelta(seconds=100), T + timedelta(seconds=150)),
    ]
    assert cause(T + timedelta(seconds=20), watch.last) == (
        "log full from 2026-03-01T12:00:00Z to 2026-03-01T12:00:50Z"
    )
