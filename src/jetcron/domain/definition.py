"""The schedule definition: what an operator writes, shared by commands, events and files."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import msgspec

Overlap = Literal["skip", "buffer_one", "allow", "cancel_previous"]
CatchUpPolicy = Literal["latest", "all", "none"]

MISSED_AFTER = timedelta(seconds=60)
"""A fire found later than this (after downtime) goes through the catch-up policy."""
LATE_DOWN = "scheduler down"
"""Why a missed fire was late: no scheduler ticked (the reason's prefix)."""
LATE_LOG_FULL = "log full"
"""Why a missed fire was late: the scheduler was up, but JetStream refused appends for want
of storage (nothing could be triggered, nor the lease kept)."""
LATE_UNREACHABLE = "NATS unreachable"
"""Why a fire was decided late: the deciding scheduler could not reach NATS (its own outage,
from its last answer to its reconnect); the reason adds `from T1 to T2`."""
LATE_NO_LEADER = "no stream leader (lost quorum?)"
"""Why a fire was decided late: NATS answered the scheduler, but JetStream had no leader for
its lease (an election, a cluster that lost quorum); the reason adds `from T1 to T2`."""
LATE_HELD = "waited for the result of run"
"""Why a fire was decided late: the leader held it for the result of a run fired before it
took over (scheduler/planner.SETTLE); the reason adds the run and until when."""
LATE_QUIET = "the leader did not tick"
"""Why a fire was decided late: another scheduler (or this one, before it lost the lease) held
the ticker lease at the fire time but decided nothing (frozen, cut off); the reason names it."""
LATE_BUSY = "leader busy"
"""Why a fire was decided late: the scheduler that decided it held the lease at its time, saw
no gap and held nothing, and still ticked late (an overloaded host, a slow read of the log)."""
GAP_STORIES = {
    LATE_LOG_FULL: "The log was full (JetStream refused appends)",
    LATE_UNREACHABLE: "The scheduler could not reach NATS",
    LATE_NO_LEADER: "JetStream had no stream leader (lost quorum?)",
    LATE_HELD: "The leader waited for the result of a run fired before it took over",
    LATE_QUIET: "The scheduler holding the ticker lease did not tick",
    LATE_BUSY: "The leading scheduler ticked late",
}
"""A late fire's cause (its reason's start) as the start of `why`'s sentence; any other
(LATE_DOWN, older events): "No scheduler ticked"."""


LATE_KINDS = (LATE_LOG_FULL, LATE_UNREACHABLE, LATE_NO_LEADER, LATE_HELD, LATE_QUIET, LATE_BUSY)
"""The causes a late fire's reason may give besides LATE_DOWN (each a prefix; details follow)."""
DECIDED_AFTER = " s after its fire: "
"""What a skip decided late says before its cause (`…; decided 51 s after its fire: …`)."""


def late_kind(reason: str) -> str:
    """The cause a fire's reason gives for its lateness, without its details (times, names):
    one of LATE_KINDS or LATE_DOWN, at the start of a missed fire's reason or after
    DECIDED_AFTER in a skip's; "" when it gives none (a fire decided on time).

    why: a summary groups fires by cause; the details differ fire by fire (nc21c #3, #4)."""
    _, mark, told = reason.partition(DECIDED_AFTER)
    told = told if mark else reason
    return next((k for k in (*LATE_KINDS, LATE_DOWN) if told.startswith(k)), "")


def gap_story(reason: str) -> str:
    """Why nothing was decided for a while, told from a late fire's reason (one rule for
    every surface that reads a stored reason)."""
    return next(
        (told for cause, told in GAP_STORIES.items() if reason.startswith(cause)),
        "No scheduler ticked",
    )


PAUSED_UNDECIDED = "paused: the schedule was paused before this fire was decided"
"""The skip of a fire due before a pause that no leader had decided by then (scheduler/owed.py)."""
PAUSED_UNSTARTED = "schedule paused before the run started"
"""The cancel of a clock trigger that no executor had started when the pause was stored."""


def pause_stops(forced: bool) -> bool:
    """True if a pause stops a fire's run that has not started: the one rule of the ticker (a
    fire due before the pause, undecided then) and the executor (a trigger not started).

    A pause stops every run of the clock that has not started by the time it is stored,
    whenever its fire fell due and whether a trigger was appended for it or not: runs that
    started go on (a pause lets them finish), and an operator's run (`trigger`, a backfill:
    `forced`) runs also while the schedule is paused.

    why one rule: an operator pauses to stop new runs (a disk swap, a full disk); a fire that
    fell due a moment before, undecided for an outage, is no different from one due after.
    The ticker used to run such a fire, the executor then cancelled it, and the 'coalesced'
    lines beside it named a fire that never ran (newcomer19b F1)."""
    return not forced


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
    secrets: dict[str, str] = {}
    """Environment variables whose values are secrets: name -> `kv:<secret>`, a reference to
    the secrets bucket (log/secrets.py). The value itself is never in a definition."""


SECRET_REF = "kv:"
"""The prefix of a secret reference: in `Job.secrets`, and a notification sink's `secret`."""


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
    expect_success_within_s: float | None = None
    """Expectation: a run succeeds at least this often (None: no such expectation)."""
    expect_done_by: str | None = None
    """Expectation: the day's last fire before HH:MM (wall time in tz) has succeeded by then."""
    exclude: list[str] = []
    """Calendars whose time this schedule never fires in (the fire is recorded as excluded)."""
    only_within: list[str] = []
    """If set, the schedule fires only inside (any of) these calendars."""


_Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class JobPatch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Changes to a Job: unset fields keep their value."""

    command: list[str] | None | _Unset = UNSET
    shell: str | None | _Unset = UNSET
    action: str | None | _Unset = UNSET
    params: dict[str, Any] | _Unset = UNSET
    cwd: str | None | _Unset = UNSET
    env: dict[str, str] | _Unset = UNSET
    secrets: dict[str, str] | _Unset = UNSET


class RetryPatch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Changes to a RetryPolicy: unset fields keep their value."""

    max_attempts: int | _Unset = UNSET
    initial_backoff_s: float | _Unset = UNSET
    multiplier: float | _Unset = UNSET
    max_backoff_s: float | _Unset = UNSET


class CatchUpPatch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Changes to a CatchUp policy: unset fields keep their value."""

    policy: CatchUpPolicy | _Unset = UNSET
    window_s: float | _Unset = UNSET
    max_fires: int | _Unset = UNSET


class ConditionsPatch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Changes to the host conditions: unset fields keep their value; None clears one."""

    max_cpu_percent: float | None | _Unset = UNSET
    max_memory_percent: float | None | _Unset = UNSET
    max_load: float | None | _Unset = UNSET
    disk_path: str | None | _Unset = UNSET
    disk_above_percent: float | None | _Unset = UNSET
    disk_below_percent: float | None | _Unset = UNSET
    idle_minutes: float | None | _Unset = UNSET
    max_defer_s: float | _Unset = UNSET
    on_expire: Literal["skip", "force"] | _Unset = UNSET


class DefinitionPatch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """A partial definition for updates: unset fields keep their value, nested ones too.

    `retry=RetryPatch(max_attempts=3)` changes the attempts and keeps the backoff;
    `conditions=None` removes every host condition.
    """

    spec: str | _Unset = UNSET
    job: JobPatch | _Unset = UNSET
    tz: str | _Unset = UNSET
    target: str | _Unset = UNSET
    timeout_s: float | None | _Unset = UNSET
    retry: RetryPatch | _Unset = UNSET
    overlap: Overlap | _Unset = UNSET
    catchup: CatchUpPatch | _Unset = UNSET
    start: datetime | None | _Unset = UNSET
    end: datetime | None | _Unset = UNSET
    jitter_s: float | _Unset = UNSET
    max_runs: int | None | _Unset = UNSET
    breaker_threshold: int | _Unset = UNSET
    breaker_cooldown_s: float | None | _Unset = UNSET
    conditions: ConditionsPatch | None | _Unset = UNSET
    description: str | _Unset = UNSET
    tags: list[str] | _Unset = UNSET
    metadata: dict[str, str] | _Unset = UNSET
    expect_success_within_s: float | None | _Unset = UNSET
    expect_done_by: str | None | _Unset = UNSET
    exclude: list[str] | _Unset = UNSET
    only_within: list[str] | _Unset = UNSET


PATCH_OF: dict[type[msgspec.Struct], type[msgspec.Struct]] = {
    ScheduleDefinition: DefinitionPatch,
    Job: JobPatch,
    RetryPolicy: RetryPatch,
    CatchUp: CatchUpPatch,
    Conditions: ConditionsPatch,
}
"""Each part of a definition and the patch that changes it."""
_PATCHED = {patch: whole for whole, patch in PATCH_OF.items()}

S = TypeVar("S", bound=msgspec.Struct)


def apply_patch(definition: ScheduleDefinition, patch: DefinitionPatch) -> ScheduleDefinition:
    """The definition with every set field of `patch` replaced, nested patches field by field."""
    merged = _merged(definition, patch)
    job = merged.job
    if job.action is None and job.params and _sets_no_params(patch):
        # why: params belong to an action; a job switched to a command (or one stored before
        # they were refused) drops them instead of carrying values nothing reads
        merged = msgspec.structs.replace(merged, job=msgspec.structs.replace(job, params={}))
    # why: conditions with nothing set are no conditions; one spelling keeps equality honest
    if merged.conditions == Conditions():
        return msgspec.structs.replace(merged, conditions=None)
    return merged


def _sets_no_params(patch: DefinitionPatch) -> bool:
    return isinstance(patch.job, msgspec.UnsetType) or patch.job.params is UNSET


def _merged(base: S, patch: msgspec.Struct) -> S:
    changes: dict[str, Any] = {}
    for name in patch.__struct_fields__:
        value = getattr(patch, name)
        if value is UNSET:
            continue
        whole = _PATCHED.get(type(value))
        if whole is not None:
            # why: a nested patch on an absent part (no conditions yet) starts from its defaults
            value = _merged(getattr(base, name) or whole(), value)
        changes[name] = value
    return msgspec.structs.replace(base, **changes)


def replacing(definition: ScheduleDefinition) -> DefinitionPatch:
    """A patch that sets every field, nested ones included, to the value in `definition`."""
    patch = _as_patch(definition)
    assert isinstance(patch, DefinitionPatch)
    return patch


def _as_patch(whole: msgspec.Struct) -> msgspec.Struct:
    values: dict[str, Any] = {}
    for name in whole.__struct_fields__:
        value = getattr(whole, name)
        values[name] = _as_patch(value) if type(value) in PATCH_OF else value
    return PATCH_OF[type(whole)](**values)


def changed_fields(old: ScheduleDefinition, new: ScheduleDefinition) -> list[str]:
    """Names of the top-level fields whose value differs."""
    return [f for f in old.__struct_fields__ if getattr(old, f) != getattr(new, f)]
