"""msgspec's type errors in an operator's words: a file's or a flag's value that has the wrong
type, said with the value and what it must be ("'x': must be a list"), not msgspec's
"Expected `array`, got `str` - at `$[...]`"; pure."""

from __future__ import annotations

import json
import re
from typing import Any

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
        return f"{value!r}: must be {want}{example}"
    if path == "[...]" and isinstance(value, dict):  # why: msgspec does not name the key
        bad = [k for k, v in value.items() if _MSGSPEC_TYPES.get(type(v)) == found[2]]
        key = f" (under {bad[0]!r})" if bad else ""
        return f"{value[bad[0]]!r}{key}: each value must be {want}" if bad else f"must be {want}"
    index = re.fullmatch(r"\[(\d+)\]", path)
    if index is not None and isinstance(value, list) and int(index[1]) < len(value):
        return f"{value[int(index[1])]!r} (item {path}): must be {want}"
    return f"{path}: must be {want}, not {_TYPE_WORDS.get(found[2], found[2])}"
