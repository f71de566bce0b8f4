"""The plan of `jetcron apply`: steps from the live schedules to the ones in the files; pure.

A file is the whole desired state: a field left out takes its default, `paused` left out means
active (except a breaker pause, kept until a file says `paused = false`). The plan is checked
with the scheduler's own `decide` over the live state before anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import msgspec

from jetcron.domain.commands import (
    AnyCommand,
    CreateSchedule,
    DeleteSchedule,
    PauseSchedule,
    ResumeSchedule,
    UpdateSchedule,
)
from jetcron.domain.definition import ScheduleDefinition, replacing
from jetcron.domain.errors import CommandRejected
from jetcron.domain.events import status_after_update
from jetcron.domain.field_values import changes, fields_of
from jetcron.domain.fields import ScheduleFields
from jetcron.domain.fires import next_fire_within
from jetcron.domain.spec import normal_spec
from jetcron.scheduler.decider import INITIAL, ScheduleState, decide, fold, reopens

Action = Literal["create", "update", "pause", "resume", "delete"]
PRUNE_SAFE = 3
"""More deletes than this, and more than half the live schedules, need --yes (all always do)."""


class Desired(msgspec.Struct, frozen=True, kw_only=True):
    """One schedule as the files want it."""

    definition: ScheduleDefinition
    paused: bool | None = None
    """True: paused; False: active; None (left out): active, unless the breaker paused it."""
    paused_reason: str = ""
    secret_values: dict[str, str] = {}
    """Secrets its file gave as @FILE (name -> value): put into the bucket by apply, never sent."""
    where: str = ""
    """Its file and key (`dir/a.toml: schedules.x`), for errors found after loading."""


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """One command of the plan."""

    action: Action
    name: str
    definition: ScheduleDefinition | None = None
    """For create and update: the whole desired definition."""
    detail: str = ""
    """What changes, for people: `timeout: 1h → 20s`, a pause reason."""


PRUNED = "not in the files; its running jobs are cancelled"
"""What a prune's delete step says (why: a backup half-way would be stopped)."""


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """The steps in order, and what apply leaves alone (with why)."""

    steps: list[Step] = []
    skipped: list[tuple[str, str]] = []
    """(name, why) of schedules in the files that cannot be applied: no fire left."""
    kept: list[tuple[str, str]] = []
    """(name, why) of live differences kept on purpose (a breaker pause)."""


def state_of(row: Mapping[str, Any]) -> ScheduleState:
    """The decider's state of a schedule, from its row in the schedules view."""
    return ScheduleState(
        status=row["state"],
        schedule_id=row["schedule_id"],
        name=row["name"],
        version=row["version"],
        definition=msgspec.convert(row["definition"], ScheduleDefinition),
        paused_reason=row.get("paused_reason", ""),
        paused_by_system=row.get("paused_by_system", False),
    )


def plan(
    desired: Mapping[str, Desired],
    live: Mapping[str, ScheduleState],
    now: datetime,
    *,
    prune: bool,
) -> Plan:
    """What apply does: creates, updates, pauses and resumes by name, then prune's deletes."""
    steps: list[Step] = []
    skipped: list[tuple[str, str]] = []
    kept: list[tuple[str, str]] = []
    for name, want in sorted(desired.items()):
        have = live.get(name)
        differs = have is None or _differs(have, want)
        if differs and next_fire_within(want.definition, now) is None:
            skipped.append((name, "no fire left (a past one-off, or its end has passed)"))
            continue
        ours, note = _steps(name, want, have, differs, now)
        steps += ours
        if note:
            kept.append((name, note))
    if prune:
        gone = sorted(set(live) - set(desired))
        steps += [Step(action="delete", name=n, detail=PRUNED) for n in gone]
    return Plan(steps=steps, skipped=skipped, kept=kept)


def _differs(have: ScheduleState, want: Desired) -> bool:
    # why: compare as the files spell it, so equal meanings in two spellings are equal
    return _live_fields(have) != fields_of(want.definition)


def _live_fields(have: ScheduleState) -> ScheduleFields:
    """The live definition as a file spells it, its spec normalised (an older log's spec may
    hold extra spaces: no change to plan)."""
    assert have.definition is not None
    d = have.definition
    return fields_of(msgspec.structs.replace(d, spec=normal_spec(d.spec)))


def _steps(
    name: str, want: Desired, have: ScheduleState | None, differs: bool, now: datetime
) -> tuple[list[Step], str]:
    """The steps of one schedule, and a note when a difference is kept."""
    reason = want.paused_reason
    if have is None:
        create = Step(action="create", name=name, definition=want.definition)
        return [
            create,
            *([Step(action="pause", name=name, detail=reason)] if want.paused else []),
        ], ""
    detail = _diff(have, want) if differs else ""
    update = [Step(action="update", name=name, definition=want.definition, detail=detail)]
    update = update if differs else []
    status = have.status
    if differs and have.definition is not None:
        # why: the aggregate's rule: the update reopens a completed schedule only if it may
        # give it fires again (else a pause after it would be refused as "completed")
        status = status_after_update(status, reopens(have.definition, want.definition, now))
    if status == "paused" and not want.paused:
        if want.paused is None and have.paused_by_system:
            why = f"paused by the breaker ({have.paused_reason}); `paused = false` resumes it"
            return update, why
        return [*update, Step(action="resume", name=name)], ""
    if status == "active" and want.paused:
        pause = Step(action="pause", name=name, detail=reason)
        # why: pause first, so a changed spec cannot fire between the two commands
        return ([pause, *update] if have.status == "active" else [*update, pause]), ""
    return update, ""


def _diff(have: ScheduleState, want: Desired) -> str:
    pairs = changes(_live_fields(have), fields_of(want.definition))
    # why "; ": a plan is a table, one line per step (a newline showed as a literal \n)
    return "; ".join(f"{key}: {show(old)} → {show(new)}" for key, old, new in pairs)


def show(value: Any) -> str:
    """A field value for people: '-' for none, ISO times with Z, JSON for text, lists and maps."""
    if value is None:
        return "-"
    if value == "":
        return '""'
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


PRUNE_NAMED = 10
"""A --prune refusal names this many of the deletes it refuses."""


class _Named(Protocol):
    @property
    def action(self) -> str: ...
    @property
    def name(self) -> str: ...


def prune_refusal(steps: Iterable[_Named], live_count: int, what: str = "schedules") -> str | None:
    """Why these deletes need --yes (all live `what`, or too many), or None."""
    deletes = [s.name for s in steps if s.action == "delete"]
    n = len(deletes)
    if n == 0 or (n < live_count and (n <= PRUNE_SAFE or n * 2 <= live_count)):
        return None
    # why: 260 names made one 3,000-character line that scrolled the plan away (newcomer20b F8)
    named = ", ".join(deletes[:PRUNE_NAMED])
    if n > PRUNE_NAMED:
        named += f" and {n - PRUNE_NAMED} more: `--dry-run` lists them all"
    return f"refusing to delete {n} of {live_count} live {what} without --yes ({named}); nothing was changed"


def command_of(step: Step, meta: Mapping[str, Any]) -> AnyCommand:
    """The command that carries out a step; `meta` gives name, id, time, actor and reason."""
    match step.action:
        case "create":
            assert step.definition is not None
            return CreateSchedule(**meta, definition=step.definition)
        case "update":
            assert step.definition is not None
            # why: every field, defaults included, so a field left out of the file is reset
            return UpdateSchedule(**meta, patch=replacing(step.definition))
        case "pause":
            return PauseSchedule(**{**meta, "reason": step.detail or meta["reason"]})
        case "resume":
            return ResumeSchedule(**meta)
        case "delete":
            return DeleteSchedule(**meta)


def rejections(
    steps: Iterable[tuple[Step, AnyCommand]], live: Mapping[str, ScheduleState]
) -> list[str]:
    """What the scheduler would refuse, found by running its `decide` over the live state."""
    states = dict(live)
    problems: list[str] = []
    for step, command in steps:
        state = states.get(step.name, INITIAL)
        try:
            states[step.name] = fold(decide(state, command), state)
        except CommandRejected as err:
            problems.append(f"{step.action} {step.name}: {err}")
    return problems
