"""Cron's day extensions (`L`, `W`, `#`, `?`) parsed and expanded by croniter; pure.

croniter does the parsing and expansion of an extension item; jetcron's own matcher in
`cronmatch.py` evaluates the result in wall time under its DST rules (croniter's iteration is not
used: its DST handling is why jetcron steps in wall time itself). croniter's errors are
wrapped into jetcron's one-line, field-level messages with a "did you mean".

What croniter 7 reads, and the Quartz spellings added here on top of it:
  day-of-month  L (last day), 15W / W15 (nearest weekday), 1-L (a range to the last day),
                LW (last weekday: croniter lacks it; it is 31W, as a day past the month's end
                counts as the month's last day), ? (= *, alone)
  day-of-week   2#2 / tue#2 (n-th weekday, n 1-5), L5 and 5L / friL (the last Friday), ? (= *)
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from croniter import CroniterError, croniter

_DOW_NAMES = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
_DOW_WORDS = "Sunday Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_LAST_DOW = re.compile(r"(\w+)l")  # Quartz's 5L / friL; croniter spells it L5
_NTH = re.compile(r"(\w+)#(-?\d+)")
_W_ITEM = re.compile(r"l?w|\d*w\d*")
USAGE = {
    "day-of-month": "also L (last day), LW (last weekday), 15W (the weekday nearest the "
    "15th) or ? (= *)",
    "day-of-week": "also 2#2 (the second Tuesday), 5L (the last Friday) or ? (= *)",
}
"""What the extensions look like, for an error message about a day field."""

Expanded = tuple[frozenset[int], frozenset[int]]
"""Plain values, and extension values: day-of-month 0 = L, n = nW."""
ExpandedWeek = tuple[frozenset[int], frozenset[tuple[int, int]]]
"""Plain weekdays (0 = Sunday), and (weekday, n) pairs: n-th of the month, -1 = the last."""


class ExtensionError(ValueError):
    """An extension item croniter (or jetcron's rules for it) refuses.

    `generic` is True when nobody could say more than "not valid" (the caller then gives the
    plain field's own message with the extensions' usage).
    """

    def __init__(self, message: str, *, generic: bool = False) -> None:
        self.generic = generic
        super().__init__(message)


def expand_days(item: str, field: str) -> Expanded:
    """A day-of-month item with L, W or ?, as croniter expands it; `field` is the whole field."""
    key = item.lower()
    _check_alone(key, field, "day-of-month")
    _hint(key, "day-of-month", "#", "'#' belongs in day-of-week, e.g. '0 9 * * 2#2'")
    _check_one_day(item, key, "day-of-month")
    # why: croniter 7 has no LW; the nearest weekday of a day past the end is the last weekday
    cron = _croniter("day-of-month", item, f"0 0 {'31w' if key == 'lw' else key} * *")
    if cron.nearest_weekday:
        return frozenset(), frozenset(int(d) for d in cron.nearest_weekday)
    values = cron.expanded[2]
    plain = range(1, 32) if values == ["*"] else _numbers(values)
    return frozenset(plain), frozenset([0] if "l" in values else [])


def expand_weekdays(item: str, field: str) -> ExpandedWeek:
    """A day-of-week item with #, L or ?, as croniter expands it; `field` is the whole field."""
    key = item.lower()
    _check_alone(key, field, "day-of-week")
    if _W_ITEM.fullmatch(key):
        raise ExtensionError(
            f"day-of-week field: {item!r} is not valid; 'W' belongs in day-of-month, "
            "e.g. '0 9 15W * *'"
        )
    if key == "l":
        raise ExtensionError(
            "day-of-week field: 'L' needs a weekday before it, e.g. '5L' (the last Friday); "
            "the last day of the month is L in day-of-month"
        )
    _check_one_day(item, key, "day-of-week")
    _check_nth(item, key)
    last = _LAST_DOW.fullmatch(key)
    if last and last[1] in _DOW_NAMES:
        key = f"l{_DOW_NAMES[last[1]]}"
    elif last and last[1].isdigit():
        key = f"l{last[1]}"
    cron = _croniter("day-of-week", item, f"0 0 * * {key}")
    values, nth = cron.expanded[4], cron.nth_weekday_of_month
    plain = range(7) if values == ["*"] else [v % 7 for v in _numbers(values)]
    pairs = {(int(day) % 7, -1 if n == "l" else int(n)) for day, ns in nth.items() for n in ns}
    return frozenset(d for d in plain if d not in nth), frozenset(pairs)


def _numbers(values: list[Any]) -> list[int]:
    """The numbers of one field of croniter's expansion (besides markers such as 'l')."""
    return [int(v) for v in values if isinstance(v, int) or str(v).isdigit()]


_ONE_DAY = (
    (
        "day-of-week",
        re.compile(r"(.*[-/*].*)(#\d+)"),
        "'#'",
        "weekday",
        "2#2 is the second Tuesday",
    ),
    ("day-of-week", re.compile(r"(.*[-/*].*)(l)"), "'L'", "weekday", "5L is the last Friday"),
    (
        "day-of-month",
        re.compile(r"(.*[-/*].*)(w)"),
        "'W'",
        "day",
        "15W: the weekday nearest the 15th",
    ),
)
"""Marks that take one day, as a range or step with them must not be read: `1-3#2`, `1-3L`, `1-5W`."""


def _check_one_day(item: str, key: str, field: str) -> None:
    """A range or step with #, L or W: say the mark takes one day, and list the days if short."""
    for name, pattern, mark, unit, example in _ONE_DAY:
        found = pattern.fullmatch(key) if name == field else None
        if found is None:
            continue
        first, dash, last = found[1].partition("-")
        spelled = ""
        if dash and first.isdigit() and last.isdigit() and 0 < int(last) - int(first) < 7:
            days = range(int(first), int(last) + 1)
            spelled = "; list them: " + ",".join(f"{d}{found[2].upper()}" for d in days)
        raise ExtensionError(
            f"{field} field: {item!r}: {mark} cannot be combined with a range or step, it takes "
            f"one {unit} ({example}){spelled}"
        )


def _check_nth(item: str, key: str) -> None:
    """`5#-1`, `fri#L` and `5#6` get jetcron's words (croniter 7 has no negative `#`)."""
    nth = _NTH.fullmatch(key) or re.fullmatch(r"(\w+)#(l)", key)
    if nth is None or nth[2].isdigit() and 1 <= int(nth[2]) <= 5:
        return
    day = nth[1]
    number = _DOW_NAMES.get(day, int(day) if day.isdigit() else None)
    word = _DOW_WORDS[number] if number is not None and number < 8 else day
    if nth[2] in ("l", "-1"):
        raise ExtensionError(
            f"day-of-week field: {item!r} is not valid (did you mean '{nth[1]}L', the last "
            f"{word} of the month?)"
        )
    raise ExtensionError(
        f"day-of-week field: {item!r}: the week must be 1-5 ({nth[1]}#1 is the first {word}, "
        f"{nth[1]}L the last)"
    )


def _check_alone(key: str, field: str, name: str) -> None:
    if "?" in key and field.strip() != "?":
        raise ExtensionError(f"{name} field: '?' stands alone (it means '*'), got {field!r}")


def _hint(key: str, name: str, char: str, hint: str) -> None:
    if char in key:
        raise ExtensionError(f"{name} field: {key.upper()!r} is not valid; {hint}")


@lru_cache(maxsize=512)
def _croniter(name: str, item: str, probe: str) -> croniter:
    try:
        return croniter(probe, 0)
    except (CroniterError, ValueError, KeyError) as err:
        reason = _reason(err)
        raise ExtensionError(
            f"{name} field: {item!r} is not valid{reason}; {name} takes {USAGE[name][5:]}",
            generic=not reason and "band" not in str(err),
        ) from None


def _reason(err: Exception) -> str:
    """croniter's own reason without its '[expression] is not acceptable' preamble."""
    text = re.sub(r"\[[^]]*\]|is not acceptable[.,]?|in field \d+|Cron: .*", "", str(err))
    text = re.sub(r"\s+", " ", text).strip(" .,")
    # why: croniter's inner words ("bands … are not acceptable") mean nothing to an operator
    if not text or "Traceback" in text or "band" in text or "acceptable" in text:
        return ""
    return f" ({text})"
