"""What HTTP bodies and headers say, as jetcron values: pure, checked with the CLI's rules.

A schedule body has the fields of `jetcron.domain.fields` (the CLI's option names and units,
the format `jetcron export` writes). PATCH is a JSON merge patch (RFC 7396) with the CLI's
patch semantics: a field given replaces that field, `null` puts it back to its default
(`schedule update --reset FIELD`), a field left out keeps its value.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterable
from typing import Any, NamedTuple

import msgspec

from jetcron.domain.definition import DefinitionPatch, ScheduleDefinition, apply_patch
from jetcron.domain.errors import InvalidField
from jetcron.domain.field_values import check, definition_of, fields_of, patch_of
from jetcron.domain.fields import FIELDS, JOB_KINDS, ScheduleFields, default_of
from jetcron.domain.typenames import shown
from jetcron.domain.validation import validate_definition, validate_line, validate_name
from jetcron.errors import InvalidInput
from jetcron.web.problems import Problem, invalid, json_object

NOTHING_TO_RUN = "nothing to run: give command (a list of arguments), shell or action"


def _object(body: Any) -> dict[str, Any]:
    return json_object(body, 'of schedule fields, like {"spec": "@daily"}')


REASON_ELSEWHERE = "reason: not a schedule field; give it as ?reason=… or an X-Reason header"


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    """Every field of the body checked (types, ranges, units); 422 naming the field."""
    if "reason" in body:
        raise invalid(InvalidInput(REASON_ELSEWHERE))
    try:
        return {key: check(key, value) for key, value in body.items()}
    except InvalidField as err:
        raise invalid(err) from None


class NewSchedule(NamedTuple):
    """What a POST body asks for: a schedule, and whether to pause it once created."""

    name: str
    definition: ScheduleDefinition
    paused: bool
    paused_reason: str


def new_schedule(body: Any) -> NewSchedule:
    """The schedule of a POST body: its fields (defaults for the rest) and, as an exported
    entry or a file has them, `paused` and `paused_reason`."""
    values = dict(_object(body))
    name = values.pop("name", None)
    if name is None:
        raise invalid(InvalidInput("name: a schedule name is required"))
    if not isinstance(name, str):
        raise invalid(InvalidInput(f"name: {shown(name)}: must be a string"))
    paused, reason = values.pop("paused", False), values.pop("paused_reason", "")
    if not isinstance(paused, bool):
        raise invalid(InvalidInput(f"paused: {shown(paused)}: give true or false"))
    if not isinstance(reason, str):
        raise invalid(InvalidInput(f"paused_reason: {shown(reason)}: must be a string"))
    try:
        validate_line(reason, "paused_reason")
    except InvalidInput as err:
        raise invalid(err) from None
    return NewSchedule(name, _definition_of(name, values), paused, reason)


def _definition_of(name: str, values: dict[str, Any]) -> ScheduleDefinition:
    fields = _fields(values)
    if "spec" not in fields:
        raise invalid(InvalidInput("spec: required"))
    if not any(fields.get(k) is not None for k in JOB_KINDS):
        raise invalid(InvalidInput(NOTHING_TO_RUN))
    try:
        validate_name(name)
        return validate_definition(definition_of(ScheduleFields(**fields)))
    except InvalidInput as err:
        raise invalid(err) from None


def patch(body: Any, current: ScheduleDefinition) -> DefinitionPatch:
    """The patch of a PATCH body, checked against the definition it will change (422 if the
    result would be invalid: the same rule the service applies)."""
    values: dict[str, Any] = {}
    if "name" in _object(body):
        raise invalid(
            InvalidInput("name: a schedule cannot be renamed (create one, delete the old)")
        )
    if "reason" in body:
        raise invalid(InvalidInput(REASON_ELSEWHERE))
    try:
        for key, value in _object(body).items():
            values[key] = default_of(key) if value is None else check(key, value)
        result = patch_of(values)
        if result == DefinitionPatch():
            # why: the CLI's rule: an update that names no field is a slip, not a no-op
            raise InvalidInput("nothing given to change: name a field (spec, timeout, command, …)")
        validate_definition(apply_patch(current, result))
    except InvalidInput as err:
        raise invalid(err) from None
    return result


def definition(data: dict[str, Any]) -> ScheduleDefinition:
    """The definition inside a `schedule` query answer."""
    return msgspec.convert(data, ScheduleDefinition)


_NOT_DEFAULTS = (*JOB_KINDS, "params")
"""Fields `defaults` leaves out: what a job runs is set, not defaulted."""


def shown_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A `schedule` answer's definition as `schedule show` and export say it: `fields`, the
    flat fields set away from their defaults (names and units of the CLI's options), and
    `defaults`, every other field with the value it has by default; both in the table's order.

    why: the console lists these instead of a hand-picked subset that drifts from the table;
    `secret_env` holds references (`kv:NAME`), never a secret's value.
    """
    set_ = msgspec.to_builtins(fields_of(definition(data)))
    unset = (f for f in FIELDS.values() if f.key not in set_ and f.key not in _NOT_DEFAULTS)
    return {"fields": set_, "defaults": {f.key: msgspec.to_builtins(f.default) for f in unset}}


def if_match(header: str | None) -> int | None:
    """The version an If-Match header asks for (our ETags are "<version>"); None for none or *."""
    if header is None or header.strip() == "*":
        return None
    tag = header.split(",")[0].strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise Problem(412, f'If-Match {header!r} is not an ETag of this API (a version like "3")')
    return int(tag)


def etag(version: int) -> str:
    """The ETag of a schedule version."""
    return f'"{version}"'


# -- schedule listings ---------------------------------------------------------------------------


def command_text(command: list[str] | str | None) -> str:
    """A schedule row's `command` as a search finds it: an argv list as its words joined by
    spaces (`echo hi`) and as a shell would quote it (`echo 'hi there'`, as the console shows
    it); a shell line or an action's name as it is."""
    if not isinstance(command, list):
        return command or ""
    joined, quoted = " ".join(command), shlex.join(command)
    return joined if joined == quoted else f"{joined}\n{quoted}"


def matches(row: dict[str, Any], tag: str | None, target: str | None, text: str | None) -> bool:
    """Whether a schedule row passes the list filters (text, any case: name, spec, command as
    `command_text` says it, description)."""
    d = row.get("definition") or {}
    if tag and tag not in (d.get("tags") or []):
        return False
    if target and row.get("target") != target:
        return False
    if text:
        said = (
            row["name"],
            row.get("spec"),
            command_text(row.get("command")),
            d.get("description"),
        )
        # why: one line per part, so a search never matches across two of them
        return text.lower() in "\n".join(str(v or "") for v in said).lower()
    return True


def encode_cursor(data: bytes) -> str:
    """An opaque cursor (URL-safe base64 without padding)."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(cursor: str) -> bytes:
    """What a cursor of encode_cursor holds; 400 for one this API did not make."""
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
    except ValueError:  # why: binascii.Error, and a plain ValueError for non-ASCII text
        raise Problem(
            400, f"invalid cursor {cursor!r}: use next_cursor of the previous page"
        ) from None


def after_cursor(cursor: str | None) -> str | None:
    """The schedule name a list cursor stands for (the last one of the previous page)."""
    if not cursor:
        return None
    try:
        return decode_cursor(cursor).decode()
    except UnicodeDecodeError:
        raise Problem(
            400, f"invalid cursor {cursor!r}: use next_cursor of the previous page"
        ) from None


def page(
    rows: Iterable[dict[str, Any]], limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page by name (keyset: schedules created meanwhile never shift a later page)."""
    after = after_cursor(cursor)
    ordered = sorted(
        (r for r in rows if after is None or r["name"] > after), key=lambda r: r["name"]
    )
    shown = ordered[:limit]
    return shown, encode_cursor(shown[-1]["name"].encode()) if len(ordered) > limit else None
