"""Durations and points in time as users write them: `90s`, `1h30m`, `2d`, or `2h` back; pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from jetcron.domain.days import bad_time
from jetcron.errors import InvalidInput

_US = timedelta(microseconds=1)
_UNITS = {
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
    "ms": 1000,
    "us": 1,
}
_DURATION_PART = re.compile(r"(\d+)\s*(us|ms|s|m|h|d)\s*")


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as '90s', '15m', '1h30m', '2d' or '500ms'."""
    source, pos, total = text.strip().lower(), 0, 0
    if source.isascii() and source.isdigit():
        raise ValueError(
            f"invalid duration {text!r}: missing a unit, e.g. '{source}s' or '{source}m'"
        )
    while pos < len(source) and (match := _DURATION_PART.match(source, pos)):
        total, pos = total + int(match[1]) * _UNITS[match[2]], match.end()
    if not source or pos < len(source):
        raise ValueError(
            f"invalid duration {text!r}: expected numbers with units "
            "(d, h, m, s, ms, us), e.g. '90s', '15m', '1h30m', '500ms'"
        )
    try:
        return timedelta(microseconds=total)
    except OverflowError:
        raise ValueError(f"invalid duration {text!r}: too large") from None


def window_seconds(text: str, what: str = "--window") -> float:
    """A window or look-ahead (`30d`, `--within 7d`) in seconds, longer than zero; InvalidInput
    naming `what` otherwise (the CLI's options and the API's parameters alike)."""
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as err:
        raise InvalidInput(f"{what}: {err}") from err
    if seconds <= 0:
        raise InvalidInput(f"{what} must be longer than 0s")
    return seconds


def time_or_ago(text: str, now: datetime) -> datetime:
    """A point in time as `--since`, `--until` and `--as-of` take it: ISO-8601 (a `Z` allowed,
    naive means UTC) or a duration back from `now` (`2h`, `3d`, `1h30m`). ValueError saying both."""
    source = text.strip()
    try:
        dt = datetime.fromisoformat(source.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        pass
    else:
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    try:
        return now - parse_duration(source)
    except (ValueError, OverflowError):
        raise ValueError(
            bad_time(
                text, "use ISO-8601 (2026-03-03T14:00:00Z) or a duration back from now (2h, 3d)"
            )
        ) from None


def format_duration(td: timedelta) -> str:
    """Format a timedelta the way parse_duration reads it, e.g. '1h30m'."""
    rest = td // _US
    sign, rest = ("-" if rest < 0 else ""), abs(rest)
    parts = []
    for unit, size in _UNITS.items():
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0s")
