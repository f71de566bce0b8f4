"""How late something happened to a fire: measured from when the fire was due, its nominal
time plus the jitter its schedule chose for it (`RunTriggered.jitter_s`); pure.

One rule for the ticker's catch-up (is a due fire late?), the statistics (stats, metrics) and
the stories of fires (`fires`, `why`). why: `--jitter` delays a fire on purpose; counted as
lateness it made a fire jittered by 40 min read "40m late (catch-up latest)" and, with
catch-up `none`, the ticker recorded a fire whose jitter was over a minute as missed.
"""

from __future__ import annotations

from datetime import datetime

from jetcron.domain.definition import MISSED_AFTER


def lateness_s(at: datetime, fire_time: datetime, jitter_s: float = 0.0) -> float:
    """Seconds `at` came after the fire was due (negative: before; e.g. another host's clock)."""
    return (at - fire_time).total_seconds() - jitter_s


def is_late(at: datetime, fire_time: datetime, jitter_s: float = 0.0) -> bool:
    """Whether a fire decided or started at `at` is late: over MISSED_AFTER after it was due."""
    return lateness_s(at, fire_time, jitter_s) > MISSED_AFTER.total_seconds()
