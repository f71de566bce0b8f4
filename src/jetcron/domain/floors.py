"""How short a schedule's durations may be: the floor the validator and the fields layer share;
pure."""

from __future__ import annotations

from jetcron.domain.definition import MISSED_AFTER
from jetcron.domain.durations import format_duration

_MORE_THAN_ZERO = {
    "timeout_s": "none: never stop it",
    "breaker_cooldown_s": "none: stay paused",
    "expect_success_within_s": "none: no alert",
}
"""Durations that must be more than 0s, by their place in the definition, with what turns
them off instead."""


def too_short(at: str, seconds: float) -> str | None:
    """What the duration at `at` in the definition must be when `seconds` is too short for it
    (None: it is not); the field layer names the option, the validator the field."""
    if at in _MORE_THAN_ZERO and seconds <= 0:
        return f"more than 0s ({_MORE_THAN_ZERO[at]})"
    if at == "catchup.window_s" and seconds < MISSED_AFTER.total_seconds():
        # why: a fire counts as missed only when over MISSED_AFTER late, so a shorter window
        # runs none of them: the same as catch-up `none`, which says so (newcomer20c #16)
        return (
            f"at least {format_duration(MISSED_AFTER)}: a fire is missed only when over "
            f"{format_duration(MISSED_AFTER)} late, so a shorter window runs none (that is "
            "catch-up none)"
        )
    return None
