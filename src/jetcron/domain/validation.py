"""Validation of a schedule definition: every rule, with a message an operator can act on."""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import msgspec

from jetcron.clock import iso_z
from jetcron.domain.definition import (
    SECRET_REF,
    Conditions,
    Job,
    RetryPolicy,
    ScheduleDefinition,
)
from jetcron.domain.durations import format_duration
from jetcron.domain.errors import CommandRejected, InvalidSpec
from jetcron.domain.fires import LAST_FIRE, at_instant, wall_to_utc
from jetcron.domain.floors import too_short
from jetcron.domain.spec import Spec, normal_spec, parse_spec, validate_tz
from jetcron.errors import InvalidInput

T = TypeVar("T", bound=Hashable)

if TYPE_CHECKING:  # why: events imports calendar, which imports this module
    from jetcron.domain.events import RunTriggered

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
TARGET_RE = re.compile(r"(all:)?[A-Za-z0-9_.-]{1,64}")
TAG_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""A tag: what a fan-out target `all:<tag>` can name."""
RUN_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A run id is one subject token (`jetcron.run.<name>.<run_id>…`): jetcron writes hex ids."""
ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_RE = re.compile(re.escape(SECRET_REF) + r"[A-Za-z0-9_=-]{1,64}(\.[A-Za-z0-9_=-]{1,64}){0,3}")
"""A secret reference: kv:<name> (a key of the secrets bucket, below the target)."""
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Control characters (newline, escape...) and bidi overrides: never in a line of free text."""
CONTROL_IN_LINES_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""The same but newlines and tabs: never in text of several lines (a description)."""

# The limits of a definition (README, "Limits"): far above any real use, far below what breaks
# something (msgpack's 64-bit integers in the ticker and the snapshots, datetime's year 9999,
# NATS's 1 MB message).
MAX_ATTEMPTS = 1000
"""retry.max_attempts (`retries` + 1)."""
MAX_CATCHUP_FIRES = 10_000
"""catchup.max_fires: as many as one backfill takes."""
MAX_RUNS = 1_000_000_000
MAX_BREAKER = 1000
"""breaker_threshold: consecutive failed runs."""
MAX_DURATION_S = 366 * 86400.0
"""Every duration of a definition (timeout, backoffs, windows, cooldown, jitter...): a year."""
MAX_MULTIPLIER = 100.0
MAX_LOAD = 1000.0
"""conditions.max_load: load average per core."""
MAX_DESCRIPTION = 8192
"""Characters of a description."""
MAX_LINE = 1024
"""Characters of a one-line text: a reason, an actor."""
MAX_DEFINITION_BYTES = 64 * 1024
"""A definition as JSON (command, env, params, metadata, tags...): a command and its events
carry it whole, so it stays well below NATS's max_payload (1 MB by default)."""
MAX_EVERY = timedelta(days=3660)
"""The longest `@every`: a longer period is a slip (`2900000d` meant as seconds) whose next
fire would pass fires.LAST_FIRE. Checked on input only: a stored one still reads (it fires
until LAST_FIRE, then no more)."""
_US = timedelta(microseconds=1)
_S_US = 1_000_000
_LAST = LAST_FIRE.strftime("%Y-%m-%dT%H:%MZ")
_json = msgspec.json.Encoder()
_msgpack = msgspec.msgpack.Encoder()


def validate_line(text: str, what: str) -> str:
    """`text` if it is one line of plain text (a reason, an actor), else CommandRejected.

    why: printed, a newline forged a line of `audit` and an escape sequence reached the
    auditor's terminal; the CLI also escapes what older events hold (cli/text.clean).
    """
    _check_length(text, what, MAX_LINE)
    return _plain(text, what, CONTROL_RE, "one line of plain text")


def validate_lines(text: str, what: str) -> str:
    """`text` if it is plain text, lines and tabs allowed (a description), else CommandRejected.

    why: a description is documentation (the console edits it in a text area); every human
    output prints it escaped (`\\n`) where it stands on one line.
    """
    _check_length(text, what, MAX_DESCRIPTION)
    return _plain(text, what, CONTROL_IN_LINES_RE, "plain text (lines and tabs are fine)")


def _check_length(text: str, what: str, most: int) -> None:
    _check(len(text) <= most, f"{what} is too long ({len(text)} characters, at most {most})")


def _plain(text: str, what: str, controls: re.Pattern[str], wanted: str) -> str:
    found = controls.search(text)
    if found is not None:
        char = found.group()
        raise CommandRejected(
            f"{what} holds a control character (U+{ord(char):04X} at {found.start()}): "
            f"give it as {wanted}"
        )
    return text


def validate_name(name: str) -> str:
    """The name, or CommandRejected explaining the rule."""
    if not NAME_RE.fullmatch(name):
        raise CommandRejected(
            f"invalid schedule name {name!r}: use 1-64 letters, digits, '_', '.' or '-'"
        )
    return name


def validate_definition(definition: ScheduleDefinition) -> ScheduleDefinition:
    """The definition normalized (canonical zone, spec, UTC bounds), or CommandRejected."""
    try:
        tz = validate_tz(definition.tz)
        validate_spec(definition.spec, tz)
    except InvalidInput as err:
        raise CommandRejected(str(err)) from err
    _check_target(definition.target)
    validate_lines(definition.description, "the description")
    for tag in definition.tags:
        _check(
            TAG_RE.fullmatch(tag) is not None,
            f"invalid tag {tag!r}: 1-64 letters, digits, '_', '.' or '-' (what a fan-out "
            "target all:<tag> names)",
        )
    _check((dup := twice(definition.tags)) is None, f"tag {dup!r} given twice")
    _check_job(definition.job)
    _check_retry(definition.retry, bounded=True)
    _check_timeout(definition.timeout_s)
    _check_numbers(definition)
    if definition.conditions is not None:
        _check_conditions(definition.conditions, bounded=True)
    _check_expectations(definition)
    for cal in [*definition.exclude, *definition.only_within]:
        _check(NAME_RE.fullmatch(cal) is not None, f"invalid calendar name {cal!r}")
    start = _to_utc(definition.start, tz, "start")
    end = _to_utc(definition.end, tz, "end")
    _check(start is None or end is None or start < end, "start must be before end")
    _check(
        start is None or start < LAST_FIRE,
        # why: LAST_FIRE itself is refused too, so "after" would be wrong for it
        f"start {start and iso_z(start)} is not before the last fire time jetcron handles "
        f"({_LAST})",
    )
    _check_size(definition)
    spec = normal_spec(definition.spec)
    return msgspec.structs.replace(definition, spec=spec, tz=tz, start=start, end=end)


def validate_spec(text: str, tz: str) -> Spec:
    """The spec parsed, or InvalidSpec: also for an `@at` at or after fires.LAST_FIRE (or
    outside datetime's range) in its zone; the CLI's and the console's previews ask this too."""
    spec = parse_spec(text, tz)
    if spec.kind == "at" and spec.at is not None and at_instant(spec.at, tz) is None:
        raise InvalidSpec(
            text,
            f"{spec.at.isoformat()} in {tz} is after the last fire time jetcron handles ({_LAST})",
        )
    if spec.kind == "every" and spec.every_us > MAX_EVERY // _US:
        most, every = format_duration(MAX_EVERY), format_duration(spec.every_us * _US)
        raise InvalidSpec(text, f"duration must be at most {most} (about ten years), got {every}")
    if (problem := _fraction(spec)) is not None:
        raise InvalidSpec(text, problem)
    return spec


def _fraction(spec: Spec) -> str | None:
    """Why a spec's fire times would fall between whole seconds (None: they do not)."""
    # why: every text shows fire times to the second and `why`/`skip` take them back as
    # given; a fire at 10:00:01.5 would read as 10:00:01 and then name no fire (newcomer20c
    # #3). A spec stored by an older jetcron still reads (parse_spec allows it).
    if spec.kind == "every" and (spec.every_us % _S_US or spec.offset_us % _S_US):
        return "fire times are whole seconds: give the interval and offset in whole seconds"
    if spec.kind == "at" and spec.at is not None and spec.at.microsecond:
        return "fire times are whole seconds: drop the fraction of a second"
    return None


def _check_numbers(d: ScheduleDefinition) -> None:
    _duration(d.timeout_s, "timeout")
    _between(d.catchup.max_fires, 1, MAX_CATCHUP_FIRES, "catch-up max_fires")
    _between(d.max_runs, 1, MAX_RUNS, "max_runs")
    _between(d.breaker_threshold, 0, MAX_BREAKER, "breaker threshold (0 disables it)")
    _floor("catchup.window_s", d.catchup.window_s, "catch-up window")
    _duration(d.catchup.window_s, "catch-up window")
    _duration(d.jitter_s, "jitter")
    cooldown = d.breaker_cooldown_s
    _floor("breaker_cooldown_s", cooldown, "breaker cooldown")
    _duration(cooldown, "breaker cooldown")


def _duration(seconds: float | None, what: str) -> None:
    """CommandRejected unless `seconds` (None: off) is from 0 to MAX_DURATION_S."""
    if seconds is None:
        return
    most = format_duration(timedelta(seconds=MAX_DURATION_S))
    _check(
        math.isfinite(seconds) and 0 <= seconds <= MAX_DURATION_S,
        f"{what} must be from 0s to {most}, not {seconds!r}s",
    )


def _between(value: float | None, lo: float, hi: float, what: str) -> None:
    """CommandRejected unless `value` (None: not set) is a number from lo to hi.

    why a finite check: a TOML file can say `inf` or `nan`, and `nan` passes every comparison
    """
    if value is None:
        return
    _check(
        math.isfinite(value) and lo <= value <= hi,
        f"{what} must be from {_shown(lo)} to {_shown(hi)}, not {value!r}",
    )


def _shown(bound: float) -> str:
    """A bound as written: 1000000000, not 1e+09."""
    return str(int(bound)) if float(bound).is_integer() else repr(bound)


def _check_size(d: ScheduleDefinition) -> None:
    """The definition fits in a command and its events, and the ticker can store it."""
    try:
        # why: the ticker and every snapshot store definitions as msgpack, whose integers are
        # 64-bit: an action's params are free-form (JSON numbers of any size)
        _msgpack.encode(d.job.params)
    except OverflowError as err:
        raise CommandRejected(f"params: {err} (a number too large)") from None
    size = len(_json.encode(d))
    _check(
        size <= MAX_DEFINITION_BYTES,
        f"the definition is too large ({size} bytes as JSON, at most {MAX_DEFINITION_BYTES}): "
        "keep large data in a file the command reads",
    )


def trigger_problem(trigger: RunTriggered) -> str | None:
    """Why an executor must not run this trigger (None: it may): a field the scheduler never
    writes, because it builds triggers only from definitions `validate_definition` accepted
    (the same checks, so one rule for both). A forged or corrupt trigger is refused, not run.
    """
    try:
        _check(
            RUN_ID_RE.fullmatch(trigger.run_id) is not None,
            f"invalid run id {trigger.run_id!r}: 1-64 letters, digits, '_' or '-'",
        )
        validate_name(trigger.name)
        _check_target(trigger.target)
        _check_job(trigger.job)
        # why: no upper bounds here: a schedule stored before they existed still runs
        _check_retry(trigger.retry, bounded=False)
        _check_timeout(trigger.timeout_s)
        if trigger.conditions is not None:
            _check_conditions(trigger.conditions, bounded=False)
    except CommandRejected as err:
        return str(err)
    return None


def _check_target(target: str) -> None:
    _check(
        TARGET_RE.fullmatch(target) is not None,
        f"invalid target {target!r}: a host, pool or all:<tag> name "
        "(letters, digits, '_', '.', '-')",
    )


def _check_timeout(timeout_s: float | None) -> None:
    _floor("timeout_s", timeout_s, "timeout")


def _floor(at: str, seconds: float | None, what: str) -> None:
    if seconds is not None and (least := too_short(at, seconds)) is not None:
        raise CommandRejected(f"{what} must be {least}")


def twice(items: Iterable[T]) -> T | None:
    """The first item given a second time, or None (a slip: `--tag x --tag x`)."""
    seen: set[T] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def _check(ok: bool, problem: str) -> None:
    if not ok:
        raise CommandRejected(problem)


def _check_job(job: Job) -> None:
    kinds = [k for k in (job.command, job.shell, job.action) if k is not None]
    _check(
        len(kinds) == 1, "a job needs exactly one of: a command (argv), a shell string, an action"
    )
    _check(
        job.command is None or (len(job.command) > 0 and job.command[0] != ""),
        "the command is empty",
    )
    _check(job.shell is None or job.shell.strip() != "", "the shell command is empty")
    _check(
        job.action is not None or not job.params,
        f"params ({', '.join(sorted(job.params))}) go with an action (--action NAME); "
        "a command or shell job never reads them: give it --env or arguments instead",
    )
    _check(
        job.action is None or re.fullmatch(r"[A-Za-z0-9_.:-]+", job.action) is not None,
        f"invalid action name {job.action!r}",
    )
    for var in job.env:
        # why: `BAD KEY=1` was stored, and no shell or exec could ever set it
        _check(
            ENV_RE.fullmatch(var) is not None,
            f"invalid variable name {var!r}: letters, digits and '_', not starting with a digit",
        )
    for var, ref in job.secrets.items():
        _check(ENV_RE.fullmatch(var) is not None, f"invalid secret variable name {var!r}")
        _check(
            SECRET_RE.fullmatch(ref) is not None,
            f"secret {var}: {ref!r} is not a reference; give @FILE (stored in the secrets bucket) "
            "or kv:NAME (already there), never the value itself",
        )
        _check(var not in job.env, f"{var} is both a plain and a secret variable")


def _check_retry(retry: RetryPolicy, *, bounded: bool) -> None:
    _check(retry.max_attempts >= 1, "retry max_attempts must be >= 1")
    _check(retry.initial_backoff_s >= 0, "retry backoff must be >= 0")
    _check(retry.multiplier >= 1, "retry multiplier must be >= 1")
    _check(retry.max_backoff_s >= retry.initial_backoff_s, "retry max backoff must be >= initial")
    if bounded:
        _between(retry.max_attempts, 1, MAX_ATTEMPTS, "retry max_attempts (retries + 1)")
        _between(retry.multiplier, 1, MAX_MULTIPLIER, "retry multiplier")
        _duration(retry.max_backoff_s, "retry max backoff")


def _check_conditions(c: Conditions, *, bounded: bool) -> None:
    for label, value in (
        ("max_cpu_percent", c.max_cpu_percent),
        ("max_memory_percent", c.max_memory_percent),
        ("disk_above_percent", c.disk_above_percent),
        ("disk_below_percent", c.disk_below_percent),
    ):
        _check(value is None or 0 <= value <= 100, f"{label} must be between 0 and 100")
    _check(
        (c.disk_above_percent is None and c.disk_below_percent is None) or bool(c.disk_path),
        "disk conditions need disk_path",
    )
    _check(c.max_defer_s >= 0, "max_defer_s must be >= 0")
    if bounded:
        # why: a negative load or idle time is never met: every fire waited, then was dropped
        _between(c.max_load, 0, MAX_LOAD, "max_load")
        _between(c.idle_minutes, 0, MAX_DURATION_S / 60, "idle_minutes")
        _duration(c.max_defer_s, "max_defer")


def _check_expectations(d: ScheduleDefinition) -> None:
    within = d.expect_success_within_s
    _floor("expect_success_within_s", within, "expect_success_within")
    _duration(within, "expect_success_within")
    done_by = d.expect_done_by
    _check(
        done_by is None or re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", done_by) is not None,
        f"invalid expect_done_by {done_by!r}: use HH:MM, e.g. 06:00",
    )


def _to_utc(value: datetime | None, tz: str, label: str) -> datetime | None:
    if value is None:
        return None
    try:
        # why: a bound written without offset means wall time in the schedule's zone, read
        # by the same DST rule as a naive @at
        return wall_to_utc(value, tz)
    except OverflowError:
        raise CommandRejected(f"{label} {value.isoformat()} is out of range in {tz}") from None
