"""Schedules as files (JSON or TOML) kept in git, read by `jetcron apply` (cli/applying.py).

A file is `{"schedules": {name: fields}}` with the fields of `jetcron.domain.fields` (the CLI's
option names and units) plus `paused` and `paused_reason`, and may hold a `calendars` table
(see cli/calendar_files.py) and a `notifications` table (cli/notify_files.py). Decoding is
strict: an unknown key anywhere is an error naming the file, the key and the closest known one.
A file with none of the three tables is no definition file: refused when given by name (an
empty file is what a failed checkout leaves), passed over in a directory, which must hold at
least one. Which files a directory contributes is cli/walk.py's rule.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from jetcron.cli import secrets
from jetcron.cli.reconcile import (
    Desired,
)
from jetcron.cli.walk import files_in, format_of
from jetcron.domain import jsontext
from jetcron.domain.definition import ScheduleDefinition
from jetcron.domain.errors import InvalidField
from jetcron.domain.field_values import check, definition_of, fields_of
from jetcron.domain.fields import FIELDS, ScheduleFields, did_you_mean, renamed
from jetcron.domain.typenames import located
from jetcron.domain.validation import validate_definition, validate_name
from jetcron.errors import InvalidInput

TOP_KEYS = ("schedules", "calendars", "notifications")
"""`calendars` is read by cli/calendar_files.py, `notifications` by cli/notify_files.py."""
NO_TABLE = (
    "not a definition file: it has no schedules, calendars or notifications table "
    '(to say "none", write {"schedules": {}} or [schedules])'
)


class FileEntry(ScheduleFields, frozen=True, kw_only=True, omit_defaults=True):
    """One schedule in a file: its fields, and whether it is paused."""

    paused: bool | None = None
    """True: keep it paused; false: active; left out: active unless the breaker paused it."""
    paused_reason: str = ""


ENTRY_KEYS = tuple(FileEntry.__struct_fields__)


def load_desired(path: Path) -> dict[str, Desired]:
    """Every schedule in a file or a directory of them (see cli/walk.py), checked and validated;
    InvalidInput if no file holds a table (see the module's docstring)."""
    out: dict[str, Desired] = {}
    tables = 0
    for file in files_in(path):
        raw = decode_file(file)
        for key in raw:
            if key not in TOP_KEYS:
                raise InvalidInput(f"{file}: unknown key {key!r}{did_you_mean(key, TOP_KEYS)}")
        if not raw:  # why: only known keys are left, so none is a table
            if not path.is_dir():
                raise InvalidInput(f"{file}: {NO_TABLE}")
            continue
        tables += 1
        for name, desired in _load_file(file, raw).items():
            if name in out:
                first = out[name].where.rpartition(": schedules.")[0]
                raise InvalidInput(f"{file}: schedule {name!r} is defined twice (first in {first})")
            out[name] = desired
    if not tables:
        raise InvalidInput(
            f"{path}: no file in it has a schedules, calendars or notifications table; "
            "nothing was changed"
        )
    return out


def decode_file(file: Path) -> dict[str, Any]:
    """A JSON or TOML file's top-level table; InvalidInput naming the file if it is none."""
    toml = format_of(file) == "TOML"
    data = file.read_bytes()
    if not data.strip():
        # why: for both formats (msgspec read an empty TOML file as an empty table): what a
        # failed checkout or a full disk leaves, and with --prune it planned to delete all
        raise InvalidInput(f"{file}: empty file, {NO_TABLE}")
    try:
        raw = (msgspec.toml.decode if toml else jsontext.decode)(data)
    except msgspec.DecodeError as err:
        said = str(err) if toml else jsontext.problem(err, data)
        # why: `jetcron export > defs.toml` writes JSON; the parser's "line 1" would not say so
        hint = " (it looks like JSON: name it .json)" if toml and data.lstrip()[:1] == b"{" else ""
        raise InvalidInput(f"{file}: not valid {'TOML' if toml else 'JSON'}: {said}{hint}") from err
    except jsontext.DuplicateKey as err:
        raise InvalidInput(f"{file}: {err}") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{file}: expected a table/object with a 'schedules' key")
    return raw


def _load_file(file: Path, raw: dict[str, Any]) -> dict[str, Desired]:
    schedules = raw.get("schedules", {})
    if not isinstance(schedules, dict):
        raise InvalidInput(f"{file}: 'schedules' must be a table/object of name -> fields")
    return {
        name: _entry(f"{file}: schedules.{name}", name, body, file.parent)
        for name, body in schedules.items()
    }


def _entry(where: str, name: str, body: Any, base: Path) -> Desired:
    if not isinstance(body, dict):
        raise InvalidInput(f"{where}: expected a table/object of fields")
    for key, value in body.items():
        _known_key(where, key, value)
    try:
        validate_name(name)
        values = {k: check(k, v) for k, v in body.items() if k in FIELDS}
        hidden: dict[str, str] = {}
        if values.get(secrets.OPTION):
            values[secrets.OPTION], hidden = secrets.file_refs(name, values[secrets.OPTION], base)
        if "spec" not in values:
            raise InvalidInput("spec is missing")
        paused = typed(f"{where}.paused", body.get("paused"), bool | None, "true or false")
        reason = typed(f"{where}.paused_reason", body.get("paused_reason", ""), str, "a string")
        definition = validate_definition(definition_of(ScheduleFields(**values)))
    except InvalidField as err:
        raise InvalidInput(f"{where}.{err.key}: {err.problem}") from None
    except (InvalidInput, msgspec.ValidationError) as err:
        if str(err).startswith(f"{where}."):
            raise
        raise InvalidInput(f"{where}: {err}") from None
    return Desired(
        definition=definition,
        paused=paused,
        paused_reason=reason,
        secret_values=hidden,
        where=where,
    )


def typed(where: str, value: Any, kind: Any, expected: str) -> Any:
    """`value` as `kind`; InvalidInput '{where}: expected {expected}, got ...' otherwise."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError:
        raise InvalidInput(f"{where}: expected {expected}, got {value!r}") from None


T = TypeVar("T")


def table_entry(where: str, body: Any, keys: Collection[str], kind: type[T]) -> T:
    """One named entry of a file's table (a calendar, a sink) as `kind`: a table of known keys
    (an unknown one named, with a "did you mean"), each value checked where it stands."""
    if not isinstance(body, dict):
        raise InvalidInput(f"{where}: expected a table/object of fields")
    for key in body:
        if key not in keys:
            raise InvalidInput(f"{where}: unknown key {key!r}{did_you_mean(key, keys)}")
    try:
        return msgspec.convert(body, kind)
    except msgspec.ValidationError as err:
        raise located(where, err, body) from None


def _known_key(where: str, key: str, value: Any) -> None:
    """An unknown key is an error; a key of the old nested format names its replacements."""
    nested = key in FIELDS and isinstance(value, dict) and FIELDS[key].base is not dict
    if key in ENTRY_KEYS and not nested:
        return
    if new := [k for k in renamed(key) if k != key or nested]:
        raise InvalidInput(
            f"{where}: {key!r} is the old file format: write {', '.join(new)} "
            '(the CLI\'s option names, durations as strings like "20s")'
        )
    raise InvalidInput(f"{where}: unknown key {key!r}{did_you_mean(key, ENTRY_KEYS)}")


def entry_of(row: dict[str, Any]) -> FileEntry:
    """A live schedule as a file writes it: defaults left out, paused (by anyone) kept."""
    fields = fields_of(msgspec.convert(row["definition"], ScheduleDefinition))
    paused = row["state"] == "paused"
    return FileEntry(
        **msgspec.structs.asdict(fields),
        paused=True if paused else None,
        paused_reason=row.get("paused_reason", "") if paused else "",
    )
