"""JSON as operators write it (schedule files, API bodies): msgspec's decoding, and a key given
twice in one object refused, as TOML refuses it; pure."""

from __future__ import annotations

import json
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
    path = _repeated(marked, "")
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


def _repeated(value: Any, path: str) -> str | None:
    """The dotted path of the first repeated key (depth first), or None."""
    if isinstance(value, _Repeated):
        return f"{path}.{value.key}" if path else value.key
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, inner in items:
        where = f"{path}{key}" if key.startswith("[") else (f"{path}.{key}" if path else key)
        if (found := _repeated(inner, where)) is not None:
            return found
    return None
