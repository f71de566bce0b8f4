"""What a reader can handle of a definition already in the log: looser than validation.py.

why: what an older jetcron accepted must still read; only what breaks every reader is refused,
and envelope.py then skips the event for every reader alike.
"""

from __future__ import annotations

import msgspec

from jetcron.domain.definition import Conditions, ScheduleDefinition

_msgpack = msgspec.msgpack.Encoder()


HANDLED_INT = 1 << 62
"""Stored integers (retries, run limits, ...) beyond this no reader handles (msgpack stops at
64 bits; arithmetic on a limit and islice stop at 2**63)."""
HANDLED_S = 1000 * 366 * 86400.0
"""Stored durations beyond this (a thousand years) put a deadline past datetime's year 9999."""


def stored_problem(d: ScheduleDefinition) -> str | None:
    """Why no reader can handle a definition already in the log (None: one can).

    Looser than validate_definition on purpose: what an older jetcron accepted (`--retries
    5000`, a `400d` timeout) must still read; only what breaks a reader is refused (events.
    decode then skips the event, every reader alike).
    why fields by name, not a walk: this runs for every definition event of every replay
    (a million-schedule load), a walk of the whole definition cost several times more
    """
    retry, catchup, cond = d.retry, d.catchup, d.conditions or _NO_CONDITIONS
    counts = (retry.max_attempts, catchup.max_fires, d.max_runs or 0, d.breaker_threshold)
    # why max/min, not any() over a generator: a third of the cost (JSON holds no nan)
    if max(counts) >= HANDLED_INT or min(counts) <= -HANDLED_INT:
        return "a count (retries, catch-up max_fires, max_runs, breaker) past 2**62"
    seconds = (
        d.timeout_s or 0.0,
        retry.initial_backoff_s,
        retry.max_backoff_s,
        catchup.window_s,
        d.jitter_s,
        d.breaker_cooldown_s or 0.0,
        d.expect_success_within_s or 0.0,
        cond.max_defer_s,
        (cond.idle_minutes or 0.0) * 60,
    )
    if max(seconds) > HANDLED_S or min(seconds) < -HANDLED_S:
        return "a duration longer than a thousand years"
    if d.job.params:
        try:
            _msgpack.encode(d.job.params)
        except (OverflowError, TypeError) as err:
            return f"params: {err}"
    return None


_NO_CONDITIONS = Conditions()
