"""msgspec's type errors in an operator's words: a file's or a flag's value that has the wrong
type, said with the value and what it must be ("'x': must be a list"), not msgspec's
"Expected `array`, got `str` - at `$[...]`"; pure."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from jetcron.domain.days import missing_day
from jetcron.errors import InvalidInput

_TYPE_WORDS = {
    "array": "a list",
    "str": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "object": "a table",
    "null": "null",
    "date": "a date (YYYY-MM-DD)",
}
"""msgspec's type names in a file's words."""


def type_words(expected: str) -> str:
    """msgspec's expected type (`array`, `str | null`) in a file's words (`a list`)."""
    return " or ".join(_TYPE_WORDS.get(t.strip(), t.strip()) for t in expected.split("|"))


_MSGSPEC_TYPES = {
    str: "str",
    bool: "bool",
    int: "int",
    float: "float",
    list: "array",
    dict: "object",
}


def value_words(value: Any) -> str:
    """What kind of value this is, in a file's words (`1.0`: a number; `""`: a string)."""
    return type_words(_MSGSPEC_TYPES.get(type(value), "object"))


def wrong_type(value: Any, message: str) -> str | None:
    """msgspec's "Expected `array`, got `str` - at `$[...]`" said as an operator would: the
    value that is wrong (in a table: under which key), and what it must be."""
    found = re.fullmatch(r"Expected `([^`]+)`, got `([^`]+)`(?: - at `\$(.*)`)?", message)
    if found is None:
        return None
    want = type_words(found[1])
    path = found[3] or ""
    if not path:
        example = f" (e.g. {json.dumps([value])})" if want == "a list" else ""
        return f"{shown(value)}: must be {want}{example}"
    if path == "[...]" and isinstance(value, dict):  # why: msgspec does not name the key
        bad = [k for k, v in value.items() if _MSGSPEC_TYPES.get(type(v)) == found[2]]
        key = f" (under {bad[0]!r})" if bad else ""
        return (
            f"{shown(value[bad[0]])}{key}: each value must be {want}" if bad else f"must be {want}"
        )
    index = re.fullmatch(r"\[(\d+)\]", path)
    if index is not None and isinstance(value, list) and int(index[1]) < len(value):
        return f"{shown(value[int(index[1])])} (item {path}): must be {want}"
    return f"{path}: must be {want}, not {_TYPE_WORDS.get(found[2], found[2])}"


def shown(value: Any) -> str:
    """A value as the operator wrote it in JSON or TOML (true, null, 1.5, [1, 2]), text quoted
    as every message quotes it ('x'); not Python's True and None."""
    if isinstance(value, str):
        return repr(value)
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(value)


def located(where: str, err: msgspec.ValidationError, body: Any) -> InvalidInput:
    """A msgspec error inside a table `body` (a file's, an API body's), named by its key and
    value: `where.dates[0]: '2026-02-30' does not exist: February 2026 has 28 days`."""
    text, sep, path = str(err).rpartition(" - at `$")
    if not sep:
        return InvalidInput(f"{where}: {err}" if where else str(err))
    path = path.rstrip("`")
    spot, value = f"{where}{path}" if where else path.lstrip("."), _at_path(body, path)
    if text == "Invalid RFC3339 encoded date":
        missing = missing_day(value) if isinstance(value, str) else None
        return InvalidInput(
            f"{spot}: {missing or f'{shown(value)} is not a date: write YYYY-MM-DD'}"
        )
    if (wrong := re.fullmatch(r"Expected `([^`]+)`, got `[^`]+`", text)) is not None:
        return InvalidInput(f"{spot}: {shown(value)}: must be {type_words(wrong[1])}")
    return InvalidInput(f"{spot}: {text.replace('`', '')}")


def _at_path(body: Any, path: str) -> Any:
    """The value at a msgspec path such as `.dates[0]` (None if it is not there)."""
    for key, index in re.findall(r"\.(\w+)|\[(\d+)\]", path):
        try:
            body = body[key] if key else body[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return body
