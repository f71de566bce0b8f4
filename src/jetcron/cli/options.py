"""Schedule definition options shared by `schedule add` and `schedule update`."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import typer

from jetcron.cli.common import parse_iso
from jetcron.domain.definition import (
    CatchUp,
    CatchUpPolicy,
    Conditions,
    DefinitionPatch,
    Job,
    Overlap,
    RetryPolicy,
    ScheduleDefinition,
)
from jetcron.domain.spec import parse_duration
from jetcron.errors import InvalidInput


class DefinitionOptions(msgspec.Struct, kw_only=True):
    """The raw CLI options; None means 'not given'."""

    spec: str | None = None
    command: list[str] | None = None
    tz: str | None = None
    target: str | None = None
    timeout: str | None = None
    retries: int | None = None
    retry_backoff: str | None = None
    overlap: str | None = None
    catchup: str | None = None
    catchup_window: str | None = None
    start: str | None = None
    end: str | None = None
    jitter: str | None = None
    max_runs: int | None = None
    action: str | None = None
    params: list[str] | None = None
    shell: str | None = None
    cwd: str | None = None
    env: list[str] | None = None
    description: str | None = None
    tags: list[str] | None = None
    breaker: int | None = None
    breaker_cooldown: str | None = None
    max_cpu: float | None = None
    max_memory: float | None = None
    max_load: float | None = None
    disk_path: str | None = None
    disk_above: float | None = None
    disk_below: float | None = None
    idle_minutes: float | None = None


def seconds(text: str | None, what: str) -> float | None:
    """A duration option ('90s', '1h30m', 'none') in seconds."""
    if text is None or text.lower() in ("none", "0", "off"):
        return None
    try:
        return parse_duration(text).total_seconds()
    except ValueError as err:
        raise InvalidInput(f"--{what}: {err}") from err


def pairs(items: list[str] | None, what: str, *, json_values: bool = False) -> dict[str, Any]:
    """KEY=VALUE options as a dict (values parsed as JSON when json_values and possible)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--{what} expects KEY=VALUE, got {item!r}")
        out[key] = _json_or_text(value) if json_values else value
    return out


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def job_of(o: DefinitionOptions) -> Job | None:
    """The job the options describe, or None if none of command/shell/action was given."""
    if o.command and o.command[0] == "--":
        o.command = o.command[
            1:
        ]  # why: click keeps the `--` separator when args are not interspersed
    if not (o.command or o.shell or o.action):
        return None
    return Job(
        command=o.command or None,
        shell=o.shell,
        action=o.action,
        params=pairs(o.params, "param", json_values=True),
        cwd=o.cwd,
        env=pairs(o.env, "env"),
    )


def _conditions(o: DefinitionOptions) -> Conditions | None:
    given = {
        k: v
        for k, v in {
            "max_cpu_percent": o.max_cpu,
            "max_memory_percent": o.max_memory,
            "max_load": o.max_load,
            "disk_path": o.disk_path,
            "disk_above_percent": o.disk_above,
            "disk_below_percent": o.disk_below,
            "idle_minutes": o.idle_minutes,
        }.items()
        if v is not None
    }
    return msgspec.convert(given, Conditions) if given else None


OVERLAP: tuple[str, ...] = typing.get_args(Overlap)
CATCHUP: tuple[str, ...] = typing.get_args(CatchUpPolicy)


def _one_of(value: str | None, allowed: tuple[str, ...], flag: str) -> None:
    if value is not None and value not in allowed:
        raise InvalidInput(f"{flag} {value!r}: use one of {', '.join(allowed)}")


def patch_of(o: DefinitionOptions) -> DefinitionPatch:
    """Only the fields the operator gave."""
    _one_of(o.overlap, OVERLAP, "--overlap")
    _one_of(o.catchup, CATCHUP, "--catchup")
    if o.retries is not None and o.retries < 0:
        raise InvalidInput("--retries must be >= 0")
    fields: dict[str, Any] = {}
    simple = {
        "spec": o.spec,
        "tz": o.tz,
        "target": o.target,
        "overlap": o.overlap,
        "max_runs": o.max_runs,
        "description": o.description,
        "tags": o.tags,
        "breaker_threshold": o.breaker,
    }
    fields.update({k: v for k, v in simple.items() if v is not None})
    if (job := job_of(o)) is not None:
        fields["job"] = job
    if o.timeout is not None:
        fields["timeout_s"] = seconds(o.timeout, "timeout")
    if o.retries is not None or o.retry_backoff is not None:
        backoff = seconds(o.retry_backoff, "retry-backoff") or 10.0
        fields["retry"] = RetryPolicy(
            max_attempts=(o.retries or 0) + 1,
            initial_backoff_s=backoff,
            max_backoff_s=max(600.0, backoff),
        )
    if o.catchup is not None or o.catchup_window is not None:
        window = seconds(o.catchup_window, "catchup-window")
        fields["catchup"] = CatchUp(
            policy=o.catchup or "latest",  # type: ignore[arg-type]
            window_s=3600.0 if window is None else window,
        )
    for key, text in (("start", o.start), ("end", o.end)):
        if text is not None:
            fields[key] = parse_iso(text) if text.lower() != "none" else None
    if o.jitter is not None:
        fields["jitter_s"] = seconds(o.jitter, "jitter") or 0.0
    if o.breaker_cooldown is not None:
        fields["breaker_cooldown_s"] = seconds(o.breaker_cooldown, "breaker-cooldown")
    if (cond := _conditions(o)) is not None:
        fields["conditions"] = cond
    try:
        return msgspec.convert(fields, DefinitionPatch, from_attributes=True)
    except msgspec.ValidationError as err:
        raise InvalidInput(f"invalid option: {err}") from err


def definition_of(o: DefinitionOptions) -> ScheduleDefinition:
    """A full definition for `schedule add`."""
    if job_of(o) is None:
        raise InvalidInput("nothing to run: give a command after `--`, or --shell, or --action")
    patch = patch_of(o)
    given = {f: v for f in patch.__struct_fields__ if (v := getattr(patch, f)) is not msgspec.UNSET}
    return ScheduleDefinition(**given)


F = TypeVar("F", bound=Callable[..., Any])


def with_definition_options(fn: F) -> F:
    """Add every definition option to a typer command's signature (fn takes **options)."""
    hints = typing.get_type_hints(DefinitionOptions)
    sig = inspect.signature(fn)
    own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    extra = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=flag, annotation=hints[name]
        )
        for name, flag in _option_flags().items()
    ]
    fn.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
    return fn


def _option_flags() -> dict[str, Any]:
    """typer Option objects, by parameter name, for the definition fields."""
    o = typer.Option
    return {
        "tz": o(None, "--tz", help="IANA time zone the spec is evaluated in (default UTC)."),
        "target": o(
            None, "--target", "-t", help="Executor target: a host, a pool, or all:<tag> (fan-out)."
        ),
        "timeout": o(
            None, "--timeout", help="Kill the run after this long, e.g. 30s, 10m, 'none'."
        ),
        "retries": o(None, "--retries", help="Retry a failed run this many times."),
        "retry_backoff": o(
            None, "--retry-backoff", help="First retry delay (doubles each time), e.g. 10s."
        ),
        "overlap": o(None, "--overlap", help=f"{' | '.join(OVERLAP)}."),
        "catchup": o(
            None, "--catchup", help=f"Missed fires after downtime: {' | '.join(CATCHUP)}."
        ),
        "catchup_window": o(
            None, "--catchup-window", help="Ignore missed fires older than this (default 1h)."
        ),
        "start": o(
            None, "--start", help="No fires before this ISO time (naive = schedule's zone)."
        ),
        "end": o(None, "--end", help="No fires after this ISO time."),
        "jitter": o(
            None, "--jitter", help="Delay each fire by a stable pseudo-random amount up to this."
        ),
        "max_runs": o(None, "--max-runs", help="Complete the schedule after this many runs."),
        "action": o(None, "--action", help="Run a registered action instead of a command."),
        "params": o(
            None, "--param", "-p", help="Action parameter KEY=VALUE (JSON values allowed)."
        ),
        "shell": o(None, "--shell", help="A shell command line (executor needs --allow-shell)."),
        "cwd": o(None, "--cwd", help="Working directory of the command."),
        "env": o(None, "--env", "-e", help="Environment variable KEY=VALUE for the command."),
        "description": o(None, "--description", "-d", help="Free text shown in listings."),
        "tags": o(None, "--tag", help="A tag (repeatable)."),
        "breaker": o(
            None,
            "--breaker",
            help="Pause after this many consecutive failures (0 = never; default 3).",
        ),
        "breaker_cooldown": o(
            None, "--breaker-cooldown", help="Auto-resume a breaker pause after this long."
        ),
        "max_cpu": o(None, "--max-cpu", help="Defer while host CPU % is above this."),
        "max_memory": o(None, "--max-memory", help="Defer while host memory % is above this."),
        "max_load": o(None, "--max-load", help="Defer while 1-min load per core is above this."),
        "disk_path": o(
            None, "--disk-path", help="Path whose disk usage the disk conditions check."
        ),
        "disk_above": o(None, "--disk-above", help="Run only when the disk is fuller than this %."),
        "disk_below": o(
            None, "--disk-below", help="Run only when the disk is emptier than this %."
        ),
        "idle_minutes": o(
            None, "--idle-minutes", help="Run only after the host was idle this long."
        ),
    }
