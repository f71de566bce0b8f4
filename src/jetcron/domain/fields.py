"""A schedule's fields as an operator writes them: the one table behind CLI flags, files and export.

Flat and named like the flags (`retry_backoff` is `--retry-backoff`), durations as strings
("20s"; "none" where the field can be off), retries counted as retries. Each field names where
it lives in the ScheduleDefinition (`at`) and its unit, so conversions both ways, patches and
the CLI options are generic: a new field is one entry here.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal, NamedTuple, get_args, get_origin, get_type_hints

import msgspec

from jetcron.domain.days import ISO_HINT, bad_time
from jetcron.domain.definition import (
    CatchUpPolicy,
    Conditions,
    DefinitionPatch,
    Job,
    Overlap,
    ScheduleDefinition,
    apply_patch,
)
from jetcron.domain.durations import format_duration, parse_duration
from jetcron.domain.errors import InvalidField
from jetcron.domain.floors import too_short
from jetcron.domain.typenames import shown, wrong_type
from jetcron.domain.validation import (
    MAX_ATTEMPTS,
    MAX_BREAKER,
    MAX_CATCHUP_FIRES,
    MAX_DURATION_S,
    MAX_LOAD,
    MAX_MULTIPLIER,
    MAX_RUNS,
)

Unit = Literal["same", "duration", "duration_or_none", "retries", "clock_or_none"]
"""How a flat value maps to the definition: as is, "20s" <-> 20.0, "none" <-> None, retries + 1,
"06:00" <-> "06:00" and "none" <-> None."""
CLOCK_RE = re.compile(r"([01]?\d|2[0-3]):[0-5]\d")
"""A wall-clock time of day, HH:MM (24 h)."""

OFF = ("none", "off", "0")
"""Words that turn off a duration that may be off (timeout, breaker_cooldown)."""

Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Runs = Annotated[int, msgspec.Meta(ge=1, le=MAX_RUNS)]
Retries = Annotated[int, msgspec.Meta(ge=0, le=MAX_ATTEMPTS - 1)]
Multiplier = Annotated[float, msgspec.Meta(ge=1, le=MAX_MULTIPLIER)]
CatchUpFires = Annotated[int, msgspec.Meta(ge=1, le=MAX_CATCHUP_FIRES)]
Breaker = Annotated[int, msgspec.Meta(ge=0, le=MAX_BREAKER)]
Load = Annotated[float, msgspec.Meta(ge=0, le=MAX_LOAD)]
Minutes = Annotated[float, msgspec.Meta(ge=0, le=MAX_DURATION_S / 60)]


def _at(path: str, help: str, unit: Unit = "same", **constraints: Any) -> msgspec.Meta:
    """A field's place in the definition, its unit and its help text (CLI and docs)."""
    return msgspec.Meta(description=help, extra={"at": path, "unit": unit}, **constraints)


class ScheduleFields(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True
):
    """Every field of a schedule, flat, with the definition's defaults; export writes this."""

    spec: Annotated[
        str, _at("spec", "Cron (5 fields), @hourly..., '@every 15m' or '@at 2026-12-24T18:00'.")
    ]
    tz: Annotated[str, _at("tz", "IANA time zone the spec is evaluated in.")] = "UTC"
    command: Annotated[
        list[str] | None, _at("job.command", "The program and its arguments (argv, no shell).")
    ] = None
    shell: Annotated[
        str | None, _at("job.shell", "A shell command line (executors need --allow-shell).")
    ] = None
    action: Annotated[
        str | None, _at("job.action", "A registered action to run instead of a command.")
    ] = None
    params: Annotated[
        dict[str, Any], _at("job.params", "Action parameters KEY=VALUE (JSON values allowed).")
    ] = {}
    cwd: Annotated[
        str | None,
        _at(
            "job.cwd",
            "Working directory of the command (relative: to the executor's --work-dir, "
            "else to where the executor was started).",
        ),
    ] = None
    env: Annotated[
        dict[str, str], _at("job.env", "Environment variables KEY=VALUE of the command.")
    ] = {}
    secret_env: Annotated[
        dict[str, str],
        _at(
            "job.secrets",
            "Secret environment variables KEY=@FILE (the file's content goes to the secrets "
            "bucket, never the log) or KEY=kv:NAME (a secret already there).",
        ),
    ] = {}
    target: Annotated[
        str, _at("target", "Executor target: a host, a pool, or all:<tag> (fan-out).")
    ] = "default"
    timeout: Annotated[
        str,
        _at(
            "timeout_s",
            "Stop the run after this long, e.g. 30s, 10m; none: never.",
            "duration_or_none",
        ),
    ] = "1h"
    retries: Annotated[
        Retries, _at("retry.max_attempts", "Retry a failed run this many times.", "retries")
    ] = 0
    retry_backoff: Annotated[
        str, _at("retry.initial_backoff_s", "Delay before the first retry.", "duration")
    ] = "10s"
    retry_multiplier: Annotated[
        Multiplier, _at("retry.multiplier", "Factor between one retry delay and the next.")
    ] = 2.0
    retry_max_backoff: Annotated[
        str, _at("retry.max_backoff_s", "Longest delay between retries.", "duration")
    ] = "10m"
    overlap: Annotated[
        Overlap, _at("overlap", "What a fire does while the previous run still runs.")
    ] = "skip"
    catchup: Annotated[
        CatchUpPolicy, _at("catchup.policy", "Fires missed while no scheduler ran: run which.")
    ] = "latest"
    catchup_window: Annotated[
        str, _at("catchup.window_s", "Missed fires older than this are never run.", "duration")
    ] = "1h"
    catchup_max_fires: Annotated[
        CatchUpFires, _at("catchup.max_fires", "At most this many missed fires run (catchup all).")
    ] = 100
    start: Annotated[
        datetime | None, _at("start", "No fires before this ISO time (naive: wall time in tz).")
    ] = None
    end: Annotated[
        datetime | None, _at("end", "No fires after this ISO time (naive: wall time in tz).")
    ] = None
    jitter: Annotated[
        str,
        _at("jitter_s", "Delay each fire by a stable pseudo-random amount below this.", "duration"),
    ] = "0s"
    max_runs: Annotated[
        Runs | None, _at("max_runs", "Complete the schedule after this many runs.")
    ] = None
    breaker: Annotated[
        Breaker,
        _at("breaker_threshold", "Pause after this many consecutive failed runs (0: never)."),
    ] = 3
    breaker_cooldown: Annotated[
        str,
        _at(
            "breaker_cooldown_s",
            "Resume a breaker pause after this long (none: stay paused).",
            "duration_or_none",
        ),
    ] = "none"
    max_cpu: Annotated[
        Percent | None, _at("conditions.max_cpu_percent", "Defer while host CPU % is above this.")
    ] = None
    max_memory: Annotated[
        Percent | None,
        _at("conditions.max_memory_percent", "Defer while host memory % is above this."),
    ] = None
    max_load: Annotated[
        Load | None,
        _at("conditions.max_load", "Defer while 1-min load per core is above this."),
    ] = None
    disk_path: Annotated[
        str | None, _at("conditions.disk_path", "Path whose disk the disk conditions check.")
    ] = None
    disk_above: Annotated[
        Percent | None,
        _at("conditions.disk_above_percent", "Run only when that disk is fuller than this %."),
    ] = None
    disk_below: Annotated[
        Percent | None,
        _at("conditions.disk_below_percent", "Run only when that disk is emptier than this %."),
    ] = None
    idle_minutes: Annotated[
        Minutes | None,
        _at("conditions.idle_minutes", "Run only after the host was idle this many minutes."),
    ] = None
    max_defer: Annotated[
        str,
        _at("conditions.max_defer_s", "Longest a run waits for the host conditions.", "duration"),
    ] = "1h"
    on_expire: Annotated[
        Literal["skip", "force"],
        _at("conditions.on_expire", "After max_defer: skip the run or force it."),
    ] = "skip"
    description: Annotated[str, _at("description", "Free text shown in listings.")] = ""
    tags: Annotated[list[str], _at("tags", "Labels for people and filters.")] = []
    metadata: Annotated[
        dict[str, str], _at("metadata", "Free KEY=VALUE pairs kept with the schedule.")
    ] = {}
    expect_success_within: Annotated[
        str,
        _at(
            "expect_success_within_s",
            "Alert when no run succeeded for this long, e.g. 26h (none: no alert).",
            "duration_or_none",
        ),
    ] = "none"
    expect_done_by: Annotated[
        str,
        _at(
            "expect_done_by",
            "Alert when the day's run has not succeeded by HH:MM in tz (none: no alert).",
            "clock_or_none",
        ),
    ] = "none"
    exclude: Annotated[
        list[str], _at("exclude", "Calendars to stay out of: no fires inside (repeatable).")
    ] = []
    only_within: Annotated[
        list[str], _at("only_within", "Calendars to stay in: fires only inside (repeatable).")
    ] = []


class Field(NamedTuple):
    """One row of the table: a flat field and how it maps to the definition."""

    key: str
    type: Any
    """The annotated flat type (constraints included), for msgspec.convert."""
    base: Any
    """The flat type without Annotated and None: int, str, datetime, list, dict or a Literal."""
    default: Any
    help: str
    at: tuple[str, ...]
    unit: Unit


def _table() -> dict[str, Field]:
    hints = get_type_hints(ScheduleFields, include_extras=True)
    table: dict[str, Field] = {}
    for info in msgspec.structs.fields(ScheduleFields):
        hint = hints[info.name]
        meta = get_args(hint)[-1]
        table[info.name] = Field(
            key=info.name,
            type=hint,
            base=_base(get_args(hint)[0]),
            default=_default(info),
            help=meta.description,
            at=tuple(meta.extra["at"].split(".")),
            unit=meta.extra["unit"],
        )
    return table


def _default(info: msgspec.structs.FieldInfo) -> Any:
    if info.default_factory is not msgspec.NODEFAULT:
        return info.default_factory()
    return None if info.default is msgspec.NODEFAULT else info.default


def _base(tp: Any) -> Any:
    """int for `Annotated[int, ...] | None`, list for `list[str]`, the Literal itself for one."""
    if get_origin(tp) is Annotated:
        return _base(get_args(tp)[0])
    args = [a for a in get_args(tp) if a is not type(None)]
    if get_origin(tp) is not Literal and len(args) == 1 and type(None) in get_args(tp):
        return _base(args[0])
    return tp if get_origin(tp) is Literal else (get_origin(tp) or tp)


FIELDS: dict[str, Field] = _table()
"""Every field by key, in the order export writes them."""
JOB_KINDS = ("command", "shell", "action")
"""A job runs exactly one of these."""
UNRESETTABLE = ("spec", *JOB_KINDS)
"""Fields without a default: a patch gives a new value instead of resetting them."""
_EMPTY: dict[str, Any] = {"conditions": Conditions()}
"""Parts of a definition that may be None, read as their defaults."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word.replace("-", "_"), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def renamed(key: str) -> list[str]:
    """The fields that hold what a definition-shaped key held: `retry` -> [`retries`, ...]."""
    return [f.key for f in FIELDS.values() if f.at[0] == key]


def default_of(key: str) -> Any:
    """The value that resets field `key`; InvalidField if there is no such field or no default."""
    if key not in FIELDS:
        raise InvalidField(key, f"no such field{did_you_mean(key, FIELDS)}")
    if key in UNRESETTABLE:
        raise InvalidField(key, "has no default; give a new one instead")
    return FIELDS[key].default


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
