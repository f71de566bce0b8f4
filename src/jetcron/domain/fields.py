"""A schedule's fields as an operator writes them: the one table behind CLI flags, files and export.

Flat and named like the flags (`retry_backoff` is `--retry-backoff`), durations as strings
("20s"; "none" where the field can be off), retries counted as retries. Each field names where
it lives in the ScheduleDefinition (`at`) and its unit, so conversions both ways, patches and
the CLI options are generic: a new field is one entry here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple, get_args, get_origin, get_type_hints

import msgspec

from jetcron.domain.definition import (
    CatchUpPolicy,
    Overlap,
)
from jetcron.domain.errors import InvalidField
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
