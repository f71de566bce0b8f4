"""The schedule definition: what an operator writes, shared by commands, events and files."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

Overlap = Literal["skip", "buffer_one", "allow", "cancel_previous"]
CatchUpPolicy = Literal["latest", "all", "none"]


class Job(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """The work a run does: exactly one of `command` (argv), `shell` or `action`."""

    command: list[str] | None = None
    shell: str | None = None
    """A shell string; only executors started with --allow-shell run it."""
    action: str | None = None
    """An action registered in the `jetcron.actions` entry-point group."""
    params: dict[str, Any] = {}
    cwd: str | None = None
    env: dict[str, str] = {}


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Attempts per run and the backoff between them."""

    max_attempts: int = 1
    initial_backoff_s: float = 10.0
    multiplier: float = 2.0
    max_backoff_s: float = 600.0


class CatchUp(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """What the ticker does with fires missed while no scheduler ran."""

    policy: CatchUpPolicy = "latest"
    window_s: float = 3600.0
    """Missed fires older than this are never run, only recorded."""
    max_fires: int = 100
    """Cap for policy `all`."""


class Conditions(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Host conditions checked by the executor before a run starts."""

    max_cpu_percent: float | None = None
    max_memory_percent: float | None = None
    max_load: float | None = None
    """1-minute load average per core."""
    disk_path: str | None = None
    disk_above_percent: float | None = None
    """Run only when `disk_path` is fuller than this (a rebalancer's trigger)."""
    disk_below_percent: float | None = None
    idle_minutes: float | None = None
    """Run only after the host was idle (CPU < 10%) this long."""
    max_defer_s: float = 3600.0
    on_expire: Literal["skip", "force"] = "skip"


class ScheduleDefinition(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Everything an operator can set on a schedule; events carry it whole."""

    spec: str
    job: Job
    tz: str = "UTC"
    target: str = "default"
    timeout_s: float | None = 3600.0
    retry: RetryPolicy = RetryPolicy()
    overlap: Overlap = "skip"
    catchup: CatchUp = CatchUp()
    start: datetime | None = None
    end: datetime | None = None
    jitter_s: float = 0.0
    max_runs: int | None = None
    breaker_threshold: int = 3
    """Consecutive failed runs that pause the schedule (0 disables the breaker)."""
    breaker_cooldown_s: float | None = None
    """Resume a breaker-paused schedule after this long (None: stay paused)."""
    conditions: Conditions | None = None
    description: str = ""
    tags: list[str] = []
    metadata: dict[str, str] = {}


class DefinitionPatch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """A partial definition for updates: unset fields keep their value."""

    spec: str | msgspec.UnsetType = msgspec.UNSET
    job: Job | msgspec.UnsetType = msgspec.UNSET
    tz: str | msgspec.UnsetType = msgspec.UNSET
    target: str | msgspec.UnsetType = msgspec.UNSET
    timeout_s: float | None | msgspec.UnsetType = msgspec.UNSET
    retry: RetryPolicy | msgspec.UnsetType = msgspec.UNSET
    overlap: Overlap | msgspec.UnsetType = msgspec.UNSET
    catchup: CatchUp | msgspec.UnsetType = msgspec.UNSET
    start: datetime | None | msgspec.UnsetType = msgspec.UNSET
    end: datetime | None | msgspec.UnsetType = msgspec.UNSET
    jitter_s: float | msgspec.UnsetType = msgspec.UNSET
    max_runs: int | None | msgspec.UnsetType = msgspec.UNSET
    breaker_threshold: int | msgspec.UnsetType = msgspec.UNSET
    breaker_cooldown_s: float | None | msgspec.UnsetType = msgspec.UNSET
    conditions: Conditions | None | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    tags: list[str] | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, str] | msgspec.UnsetType = msgspec.UNSET


def apply_patch(definition: ScheduleDefinition, patch: DefinitionPatch) -> ScheduleDefinition:
    """The definition with every set field of `patch` replaced."""
    changes = {
        f: v for f in patch.__struct_fields__ if (v := getattr(patch, f)) is not msgspec.UNSET
    }
    return msgspec.structs.replace(definition, **changes)


def changed_fields(old: ScheduleDefinition, new: ScheduleDefinition) -> list[str]:
    """Names of the top-level fields whose value differs."""
    return [f for f in old.__struct_fields__ if getattr(old, f) != getattr(new, f)]
