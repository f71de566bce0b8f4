"""A schedule's flat field values checked, and converted to and from its ScheduleDefinition.

The table (which fields, their types, units and places in the definition) is fields.py; this
module applies it: `check` a value an operator wrote, a `patch_of` checked values, a
definition's `fields_of` for export, and diffs in flat terms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, get_args, get_origin

import msgspec

from jetcron.domain.days import ISO_HINT, bad_time
from jetcron.domain.definition import (
    Conditions,
    DefinitionPatch,
    Job,
    ScheduleDefinition,
    apply_patch,
)
from jetcron.domain.durations import format_duration, parse_duration
from jetcron.domain.errors import InvalidField
from jetcron.domain.fields import FIELDS, JOB_KINDS, Field, ScheduleFields, did_you_mean
from jetcron.domain.floors import too_short
from jetcron.domain.typenames import shown, wrong_type
from jetcron.domain.validation import MAX_DURATION_S

CLOCK_RE = re.compile(r"([01]?\d|2[0-3]):[0-5]\d")
"""A wall-clock time of day, HH:MM (24 h)."""

OFF = ("none", "off", "0")
"""Words that turn off a duration that may be off (timeout, breaker_cooldown)."""

_EMPTY: dict[str, Any] = {"conditions": Conditions()}
"""Parts of a definition that may be None, read as their defaults."""


def check(key: str, value: Any) -> Any:
    """`value` as field `key` takes it (types, ranges, units); InvalidField saying what is wrong."""
    field = FIELDS.get(key)
    if field is None:
        raise InvalidField(key, f"no such field{did_you_mean(key, FIELDS)}")
    if field.base is datetime:
        value = _time(key, value)
    try:
        checked = msgspec.convert(value, field.type)
    except msgspec.ValidationError as err:
        raise InvalidField(key, _problem(field, value, err)) from None
    to_domain(field, checked)  # why: a bad duration is reported here, with its key
    return checked


def _time(key: str, value: Any) -> Any:
    """ISO text (a date, minutes only, Z) or a TOML date as a datetime; naive stays naive."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time())
    if not isinstance(value, str):
        return value
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidField(key, bad_time(value, ISO_HINT)) from None


def _problem(field: Field, value: Any, err: msgspec.ValidationError) -> str:
    if get_origin(field.base) is Literal:
        return f"{shown(value)}: use one of {', '.join(map(str, get_args(field.base)))}"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if field.unit.startswith("duration") and number:
        return f'{shown(value)}: write a duration with its unit, e.g. "{value}s"'
    if field.key == "command" and isinstance(value, str):
        # why: the usual slip in a file; a command is argv, a line for a shell is `shell`
        return (
            f"{shown(value)}: a command is a list of its program and arguments, e.g. "
            f"{json.dumps(value.split())}; for a line a shell should run, use the shell field "
            f"instead: {json.dumps(value)}"
        )
    message = str(err).removesuffix(" - at `$`")
    # why: say it as an operator would ("must be at least 1"), not as msgspec does
    bound = re.fullmatch(r"Expected `(int|float)` (>=|<=|>|<) (\S+)(, got .*)?", message)
    if bound is not None:
        words = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}
        return f"{shown(value)}: must be {words[bound[2]]} {bound[3]}"
    if message.startswith("Expected `int`"):
        return f"{shown(value)}: must be a whole number"
    if (typed := wrong_type(value, str(err))) is not None:
        return typed
    # why: msgspec names the type it got, but not the value that broke a constraint
    return message if ", got " in message else f"{message}, got {shown(value)}"


def to_domain(field: Field, value: Any) -> Any:
    """A flat value in the definition's unit."""
    if field.unit == "retries":
        return value + 1
    if field.unit == "same" or value is None:
        return value
    if field.unit.endswith("_or_none") and value.strip().lower() in OFF:
        return None
    if field.unit == "clock_or_none":
        return _clock(field.key, value)
    try:
        duration = parse_duration("0s" if value.strip() == "0" else value)
    except ValueError as err:
        raise InvalidField(field.key, str(err)) from None
    if duration.total_seconds() > MAX_DURATION_S:
        most = format_duration(timedelta(seconds=MAX_DURATION_S))
        raise InvalidField(field.key, f"{value!r}: too long (at most {most})")
    if (least := too_short(".".join(field.at), duration.total_seconds())) is not None:
        raise InvalidField(field.key, f"{value!r}: must be {least}")
    return duration.total_seconds()


def _clock(key: str, value: str) -> str:
    """HH:MM as a zero-padded time of day; InvalidField otherwise."""
    if not CLOCK_RE.fullmatch(value.strip()):
        raise InvalidField(key, f"invalid time of day {value!r}: use HH:MM, e.g. 06:00, or none")
    hours, minutes = value.strip().split(":")
    return f"{int(hours):02d}:{minutes}"


def from_domain(field: Field, value: Any) -> Any:
    """A definition value in the flat field's unit."""
    if field.unit == "retries":
        return value - 1
    if field.unit == "same":
        return value
    if value is None:
        return "none"
    if field.unit == "clock_or_none":
        return value
    return format_duration(timedelta(seconds=value))


def patch_of(values: Mapping[str, Any]) -> DefinitionPatch:
    """A patch that sets exactly these (checked) fields and keeps every other one."""
    if any(k in values for k in JOB_KINDS):
        # why: a job runs exactly one of command, shell, action: giving one replaces the others
        values = {**dict.fromkeys(JOB_KINDS), **values}
    nested: dict[str, Any] = {}
    for key, value in values.items():
        field = FIELDS[key]
        node = nested
        for part in field.at[:-1]:
            node = node.setdefault(part, {})
        node[field.at[-1]] = to_domain(field, value)
    return msgspec.convert(nested, DefinitionPatch)


def definition_of(fields: ScheduleFields) -> ScheduleDefinition:
    """The definition these fields describe; a field left out has its default."""
    blank = ScheduleDefinition(spec=fields.spec, job=Job())
    return apply_patch(blank, patch_of({k: getattr(fields, k) for k in FIELDS}))


def fields_of(definition: ScheduleDefinition) -> ScheduleFields:
    """The flat fields of a definition (what export writes)."""
    values: dict[str, Any] = {}
    for field in FIELDS.values():
        node: Any = definition
        for part in field.at:
            node = getattr(node, part)
            node = _EMPTY.get(part, node) if node is None else node
        value = from_domain(field, node)
        # why: omit_defaults omits a value only if it is the default object itself
        values[field.key] = field.default if value == field.default else value
    return ScheduleFields(**values)


def changes(old: ScheduleFields, new: ScheduleFields) -> list[tuple[str, Any, Any]]:
    """(key, old, new) for every field whose value differs, in table order."""
    return [(k, a, b) for k in FIELDS if (a := getattr(old, k)) != (b := getattr(new, k))]


def flat_diff(diff: Mapping[str, Any], *, created: bool = False) -> list[tuple[str, Any, Any]]:
    """A definition diff (`{"retry.max_attempts": [1, 4]}`, as the audit stores it) as the flat
    fields an operator writes: `[("retries", 0, 3)]`, durations as "30s".

    `created`: the diff of a creation, whose old values are all None (not set): only the fields
    set away from their defaults are listed, with None as old. A key the table does not know
    (a calendar's, a fire skip) stays as it is.
    """
    out: list[tuple[str, Any, Any]] = []
    for path, (old, new) in diff.items():
        parts = tuple(path.split("."))
        rows = [f for f in FIELDS.values() if f.at[: len(parts)] == parts]
        if not rows:
            out.append((path, old, new))
            continue
        for field in rows:
            rest = field.at[len(parts) :]
            a = None if created else _flat_value(field, old, rest)
            b = _flat_value(field, new, rest)
            if a != b and not (created and b == field.default and rest):
                out.append((field.key, a, b))
    return out


def _flat_value(field: Field, node: Any, rest: tuple[str, ...]) -> Any:
    """The flat value of `field` inside a definition part as builtins (`rest`: the path left);
    a part or key left out (None, omitted defaults) reads as the field's default."""
    for part in rest:
        if not isinstance(node, Mapping) or part not in node:
            return field.default
        node = node[part]
    return from_domain(field, node)
