"""JSON as operators write it (schedule files, API bodies): msgspec's decoding, and a key given
twice in one object refused, as TOML refuses it; pure."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import msgspec

from jetcron.errors import InvalidInput


class DuplicateKey(InvalidInput):
    """A key given twice in one JSON object; `path` names it (`schedules.d1.spec`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: given twice in one object (JSON would keep only the last)")


def decode(data: bytes | str) -> Any:
    """The JSON value; msgspec.DecodeError if it is no JSON, DuplicateKey for a repeated key.

    why: msgspec (and most decoders) keep the last of two equal keys, so a merge leftover
    `{"spec": "@daily", ..., "spec": "@hourly"}` silently meant @hourly
    """
    value = msgspec.json.decode(data)
    try:
        marked = json.loads(data, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        return value  # why: msgspec read it; what the stdlib cannot read has no duplicates we could name
    path = _repeated(marked)
    if path is not None:
        raise DuplicateKey(path)
    return value


class _Repeated(dict[str, Any]):
    """An object that had `key` twice."""

    key = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    marked = _Repeated(out)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked.key = key
            break
        seen.add(key)
    return marked


def _repeated(value: Any) -> str | None:
    """The dotted path of the first repeated key (depth first), or None."""
    found = _first(value, lambda v: isinstance(v, _Repeated))
    if found is None:
        return None
    path, marked = found
    return f"{path}.{marked.key}" if path else marked.key


def _first(value: Any, hit: Callable[[Any], bool], path: str = "") -> tuple[str, Any] | None:
    """The dotted path and value of the first value `hit` accepts (depth first), or None."""
    if hit(value):
        return path, value
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, inner in items:
        where = f"{path}{key}" if key.startswith("[") else (f"{path}.{key}" if path else key)
        if (found := _first(inner, hit, where)) is not None:
            return found
    return None


def problem(err: msgspec.DecodeError, data: bytes | str) -> str:
    """msgspec's decode error in an operator's words: without its `$[...][...]` (it names no
    key while it decodes untyped JSON); a number out of range named by where it stands."""
    text = str(err).partition(" - at `$")[0]
    if text != "Number out of range":
        return text
    try:
        found = _first(json.loads(data, parse_float=_float, parse_int=_int), _is_huge)
    except (ValueError, RecursionError):
        found = None
    if found is None:
        return "a number is out of range (at most 64 bits)"
    path, huge = found
    return f"{path}: {huge}: out of range (at most 64 bits)" if path else f"{huge}: out of range"


class _Huge(str):
    """A number's text that no 64-bit number holds."""


def _is_huge(value: Any) -> bool:
    return isinstance(value, _Huge)


def _float(text: str) -> float | _Huge:
    return number if math.isfinite(number := float(text)) else _Huge(text)


def _int(text: str) -> int | _Huge:
    try:
        number = int(text)
    except ValueError:  # why: more digits than int() reads at all
        return _Huge(text)
    return number if -(2**63) <= number < 2**64 else _Huge(text)
