"""Whether a schedule's action params fit the action's advertised defaults; pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from jetcron.domain.typenames import value_words


def param_problems(params: Mapping[str, Any], advertised: Sequence[str]) -> list[str]:
    """One phrase per param whose value cannot be of its advertised default's type (`seconds=1.0`
    takes a number: 'abc' would fail when the run starts); none for params without a default."""
    defaults: dict[str, Any] = {}
    for item in advertised:
        name, eq, text = item.partition("=")
        if eq:
            try:
                defaults[name] = json.loads(text)
            except ValueError:
                continue  # why: a default that is no JSON says nothing about the type
    return [
        f"{key} takes {value_words(defaults[key])} (default {json.dumps(defaults[key])}), "
        f"not {json.dumps(value)}"
        for key, value in params.items()
        if key in defaults and not _fits(value, defaults[key])
    ]


def _fits(value: Any, default: Any) -> bool:
    """Whether `value` can stand where `default` does: same JSON type, or a text that reads as
    that number (actions convert: `float(seconds)`)."""
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int | float):
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            return isinstance(default, float) or isinstance(value, int)
        return isinstance(value, str) and _reads_as(value, type(default))
    return isinstance(value, type(default))


def _reads_as(text: str, kind: type[int] | type[float]) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True
