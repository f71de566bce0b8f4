"""The apply plan, server-free: given live states and desired files, then these steps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from jetcron.cli.reconcile import (
    Desired,
    Step,
    command_of,
    plan,
    prune_refusal,
    rejections,
)
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.scheduler.decider import ScheduleState

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
D = ScheduleDefinition(spec="@hourly", job=Job(command=["true"]))
D2 = ScheduleDefinition(spec="@daily", job=Job(command=["true"]))
PAST = ScheduleDefinition(spec="@at 2026-01-01T00:00:00Z", job=Job(command=["true"]))
LIMITED = ScheduleDefinition(spec="@every 5s", job=Job(command=["true"]), max_runs=1)
LIMITED_5M = msgspec.structs.replace(LIMITED, timeout_s=300.0)
LIMITED_MORE = msgspec.structs.replace(LIMITED, max_runs=5)


def live(status: Any = "active", definition: ScheduleDefinition = D, **kw: Any) -> ScheduleState:
    fields = {"schedule_id": "s-1", "name": "x", "version": 3, **kw}
    return ScheduleState(status=status, definition=definition, **fields)


BREAKER = {"status": "paused", "paused_by_system": True, "paused_reason": "circuit open"}
OPERATOR = {"status": "paused", "paused_reason": "disk swap"}


def want(definition: ScheduleDefinition = D, **kw: Any) -> Desired:
    return Desired(definition=definition, **kw)


def steps(*actions: str) -> list[tuple[str, str]]:
    return [(a, "x") for a in actions]


@pytest.mark.parametrize(
    ("have", "desired", "expected"),
    [
        (None, want(), steps("create")),
        (None, want(paused=True), steps("create", "pause")),
        (live(), want(), []),
        (live(), want(D2), steps("update")),
        (live(), want(paused=True), steps("pause")),
        (live(), want(D2, paused=True), steps("pause", "update")),
        (live(**OPERATOR), want(), steps("resume")),
        (live(**OPERATOR), want(paused=False), steps("resume")),
        (live(**OPERATOR), want(paused=True), []),
        (live(**OPERATOR), want(D2), steps("update", "resume")),
        (live(**BREAKER), want(), []),
        (live(**BREAKER), want(paused=False), steps("resume")),
        (live(**BREAKER), want(paused=True), []),
        (live("completed"), want(), []),
        (live("completed"), want(paused=True), []),
        (live("completed"), want(D2), steps("update")),
        (live("completed"), want(D2, paused=True), steps("update", "pause")),
        (live("completed", PAST), want(PAST), []),
        (live("completed", LIMITED), want(LIMITED_5M, paused=True), steps("update")),
        (live("completed", LIMITED), want(LIMITED_MORE, paused=True), steps("update", "pause")),
    ],
    ids=[
        "create",
        "create-paused",
        "same",
        "update",
        "pause",
        "pause-before-update",
        "operator-pause-left-out-resumes",
        "operator-pause-false-resumes",
        "operator-pause-kept",
        "update-then-resume",
        "breaker-pause-left-out-kept",
        "breaker-pause-false-resumes",
        "breaker-pause-true-kept",
        "completed-same",
        "completed-same-paused-ignored",
        "completed-changed-reactivates",
        "completed-changed-then-paused",
        "spent-one-off-unchanged",
        "completed-new-timeout-stays-completed-no-pause",
        "completed-higher-limit-reopens-then-paused",
    ],
)
def test_plan(
    have: ScheduleState | None, desired: Desired, expected: list[tuple[str, str]]
) -> None:
    current = {} if have is None else {"x": have}
    result = plan({"x": desired}, current, NOW, prune=False)
    assert [(s.action, s.name) for s in result.steps] == expected
    assert result.skipped == []


def test_a_breaker_pause_left_out_is_kept_and_said() -> None:
    result = plan({"x": want()}, {"x": live(**BREAKER)}, NOW, prune=False)
    assert result.kept == [
        ("x", "paused by the breaker (circuit open); `paused = false` resumes it")
    ]


@pytest.mark.parametrize(
    "have", [None, live(), live("completed")], ids=["absent", "active", "completed"]
)
def test_a_changed_schedule_with_no_fire_left_is_skipped(have: ScheduleState | None) -> None:
    current = {} if have is None else {"x": have}
    result = plan({"x": want(PAST), "y": want()}, current, NOW, prune=True)
    assert [(s.action, s.name) for s in result.steps] == [("create", "y")]
    assert [name for name, _ in result.skipped] == ["x"]


def test_update_detail_lists_each_change() -> None:
    wanted = ScheduleDefinition(spec="@daily", job=Job(command=["true"]), description="d")
    [step] = plan({"x": want(wanted)}, {"x": live()}, NOW, prune=False).steps
    assert step.detail == 'spec: @hourly → @daily; description: "" → d'


def test_prune_deletes_the_rest_last() -> None:
    current = {n: live() for n in ("a", "b", "x")}
    result = plan({"x": want(D2), "c": want()}, current, NOW, prune=True)
    assert [(s.action, s.name) for s in result.steps] == [
        ("create", "c"),
        ("update", "x"),
        ("delete", "a"),
        ("delete", "b"),
    ]
    assert [s.action for s in plan({}, current, NOW, prune=False).steps] == []
    assert result.steps[-1].detail == "not in the files; its running jobs are cancelled"


@pytest.mark.parametrize(
    ("deletes", "live_count", "refused"),
    [(0, 0, False), (1, 1, True), (2, 2, True), (1, 2, False), (3, 4, False), (4, 5, True), (4, 8, False), (5, 8, True)],
)  # fmt: skip
def test_prune_refusal(deletes: int, live_count: int, refused: bool) -> None:
    steps_ = [Step(action="delete", name=f"s{i}") for i in range(deletes)]
    assert (prune_refusal(steps_, live_count) is not None) == refused


def meta(name: str) -> dict[str, Any]:
    return {"name": name, "command_id": f"c-{name}", "at": NOW, "actor": "t", "reason": "r"}


def test_rejections_run_the_deciders_rules_over_the_plan() -> None:
    plan_ = [
        Step(action="create", name="new", definition=D),
        Step(action="pause", name="new"),
        Step(action="create", name="x", definition=D),
        Step(action="pause", name="done"),
    ]
    current = {"x": live(), "done": live("completed", name="done")}
    problems = rejections([(s, command_of(s, meta(s.name))) for s in plan_], current)
    assert problems == [
        "create x: schedule 'x' already exists (use `jetcron schedule update` to change it)",
        "pause done: schedule 'done' is completed; nothing left to pause",
    ]


def test_an_older_logs_spec_with_extra_spaces_equals_the_files_normalised_one() -> None:
    # newcomer20c #6: whitespace is no change; only the timeout is planned
    spaced = ScheduleDefinition(spec="30  2 * * * ", job=Job(command=["true"]))
    tidy = msgspec.structs.replace(spaced, spec="30 2 * * *")
    assert plan({"x": want(tidy)}, {"x": live(definition=spaced)}, NOW, prune=False).steps == []
    longer = msgspec.structs.replace(tidy, timeout_s=60.0)
    [step] = plan({"x": want(longer)}, {"x": live(definition=spaced)}, NOW, prune=False).steps
    assert step.action == "update" and "spec" not in step.detail, step.detail
