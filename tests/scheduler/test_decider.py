"""The schedule decider: given events, when a command, then events (or a rejection); no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetcron.domain.commands import (
    AnyCommand,
    BackfillFire,
    CancelRun,
    CompleteSchedule,
    CreateSchedule,
    DeleteSchedule,
    PauseSchedule,
    ResumeSchedule,
    TriggerSchedule,
    UpdateSchedule,
    command_decoder,
)
from jetcron.domain.definition import (
    PATCH_OF,
    CatchUp,
    CatchUpPatch,
    Conditions,
    ConditionsPatch,
    DefinitionPatch,
    Job,
    JobPatch,
    RetryPatch,
    RetryPolicy,
    ScheduleDefinition,
)
from jetcron.domain.errors import CommandRejected, ScheduleNotFound
from jetcron.domain.events import (
    Event,
    RunCancelRequested,
    RunTriggered,
    ScheduleCompleted,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleEvent,
    SchedulePaused,
    ScheduleResumed,
    ScheduleUpdated,
)
from jetcron.ids import derived_id, run_id_for
from jetcron.scheduler.decider import INITIAL, ScheduleState, decide, evolve, fold

UTC = UTC
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 1, 12, 7, 30, tzinfo=UTC)
NAME = "backup"
SPEC = "*/5 * * * *"
JOB = Job(command=["tar", "czf", "/tmp/b.tgz", "/srv"])
SID = derived_id("schedule", NAME, "cmd-create")
"""The schedule id a create with command id `cmd-create` derives."""

# -- builders ---------------------------------------------------------------------------


def definition(spec: str = SPEC, **kw: Any) -> ScheduleDefinition:
    """A definition with a harmless default job."""
    return ScheduleDefinition(spec=spec, **{"job": JOB, **kw})


def _meta(name: str, command_id: str, reason: str = "", at: datetime = AT) -> dict[str, Any]:
    return {"name": name, "command_id": command_id, "at": at, "actor": "alice", "reason": reason}


def create(
    name: str = NAME, spec: str = SPEC, *, command_id: str = "cmd-create", **kw: Any
) -> CreateSchedule:
    """Create `name` with `spec` and any definition fields in `kw`."""
    return CreateSchedule(**_meta(name, command_id), definition=definition(spec, **kw))


def update(name: str = NAME, *, command_id: str = "cmd-update", **patch: Any) -> UpdateSchedule:
    """Update `name`, setting the definition fields in `patch`."""
    return UpdateSchedule(**_meta(name, command_id), patch=DefinitionPatch(**patch))


def pause(
    name: str = NAME,
    *,
    reason: str = "",
    by_system: bool = False,
    resume_at: datetime | None = None,
) -> PauseSchedule:
    """Pause `name` (as an operator unless by_system)."""
    return PauseSchedule(
        **_meta(name, "cmd-pause", reason), by_system=by_system, resume_at=resume_at
    )


def resume(name: str = NAME, *, only_if_system_paused: bool = False) -> ResumeSchedule:
    """Resume `name`."""
    return ResumeSchedule(**_meta(name, "cmd-resume"), only_if_system_paused=only_if_system_paused)


def delete(name: str = NAME) -> DeleteSchedule:
    """Delete `name`."""
    return DeleteSchedule(**_meta(name, "cmd-delete"))


def trigger(name: str = NAME, *, command_id: str = "cmd-trigger") -> TriggerSchedule:
    """Run `name` now (at LATER)."""
    return TriggerSchedule(**_meta(name, command_id, at=LATER))


def complete(name: str = NAME, *, schedule_id: str = SID, reason: str = "") -> CompleteSchedule:
    """The ticker's 'no fires left' for one incarnation."""
    return CompleteSchedule(**_meta(name, "cmd-complete", reason), schedule_id=schedule_id)


def created(
    version: int = 1, *, sid: str = SID, name: str = NAME, spec: str = SPEC, **kw: Any
) -> ScheduleCreated:
    """The ScheduleCreated that create(...) produces."""
    return ScheduleCreated(
        schedule_id=sid, name=name, version=version, definition=definition(spec, **kw)
    )


def updated(version: int, changed: list[str], spec: str = SPEC, **kw: Any) -> ScheduleUpdated:
    """A ScheduleUpdated of the first incarnation."""
    return ScheduleUpdated(
        schedule_id=SID,
        name=NAME,
        version=version,
        definition=definition(spec, **kw),
        changed=changed,
    )


def paused(
    version: int, *, reason: str = "", by_system: bool = False, resume_at: datetime | None = None
) -> SchedulePaused:
    """A SchedulePaused of the first incarnation."""
    return SchedulePaused(
        schedule_id=SID,
        name=NAME,
        version=version,
        reason=reason,
        by_system=by_system,
        resume_at=resume_at,
    )


def resumed(version: int) -> ScheduleResumed:
    """A ScheduleResumed of the first incarnation."""
    return ScheduleResumed(schedule_id=SID, name=NAME, version=version)


def completed(version: int, reason: str = "") -> ScheduleCompleted:
    """A ScheduleCompleted of the first incarnation."""
    return ScheduleCompleted(schedule_id=SID, name=NAME, version=version, reason=reason)


def deleted(version: int) -> ScheduleDeleted:
    """A ScheduleDeleted of the first incarnation."""
    return ScheduleDeleted(schedule_id=SID, name=NAME, version=version)


def manual_run(version: int, *, command_id: str = "cmd-trigger", **kw: Any) -> RunTriggered:
    """The RunTriggered a trigger(...) produces against definition(**kw)."""
    d = definition(**kw)
    fire = f"{SID}:manual:{command_id}"
    return RunTriggered(
        schedule_id=SID,
        name=NAME,
        fire_id=fire,
        fire_time=LATER,
        run_id=run_id_for(fire),
        version=version,
        target=d.target,
        job=d.job,
        timeout_s=d.timeout_s,
        retry=d.retry,
        conditions=d.conditions,
        manual=True,
    )


SYSTEM_PAUSED = [
    created(),
    paused(2, reason="3 failures", by_system=True, resume_at=AT + timedelta(hours=1)),
]
BERLIN_9AM_SUMMER = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
COND = Conditions(disk_path="/srv", disk_above_percent=80.0)

# -- accepted commands --------------------------------------------------------------------

ACCEPTED = [
    # create
    pytest.param([], create(), [created()], id="create"),
    pytest.param(
        [],
        create("a" * 64),
        [created(name="a" * 64, sid=derived_id("schedule", "a" * 64, "cmd-create"))],
        id="create-name-64-chars",
    ),
    pytest.param(
        [],
        create("db_backup.v2-eu"),
        [
            created(
                name="db_backup.v2-eu", sid=derived_id("schedule", "db_backup.v2-eu", "cmd-create")
            )
        ],
        id="create-name-punctuation",
    ),
    pytest.param(
        [], create(tz="europe/berlin"), [created(tz="Europe/Berlin")], id="create-canonical-zone"
    ),
    pytest.param(
        [],
        create(tz="Europe/Berlin", start=datetime(2026, 6, 1, 9, 0)),
        [created(tz="Europe/Berlin", start=BERLIN_9AM_SUMMER)],
        id="create-naive-start-is-zone-wall-time",
    ),
    pytest.param(
        [],
        create(end=datetime(2026, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=2)))),
        [created(end=BERLIN_9AM_SUMMER)],
        id="create-aware-end-to-utc",
    ),
    pytest.param(
        [],
        create(spec="@every 90s", job=Job(action="noop"), conditions=COND),
        [created(spec="@every 90s", job=Job(action="noop"), conditions=COND)],
        id="create-every-action-conditions",
    ),
    pytest.param(
        [created(), deleted(2)],
        create(command_id="cmd-create-2"),
        [created(sid=derived_id("schedule", NAME, "cmd-create-2"))],
        id="create-after-delete",
    ),
    # update
    pytest.param(
        [created()], update(spec="0 * * * *"), [updated(2, ["spec"], "0 * * * *")], id="update-spec"
    ),
    pytest.param(
        [created()],
        update(spec="0 * * * *", tz="UTC", target="nas-1", jitter_s=5.0),
        [updated(2, ["spec", "target", "jitter_s"], "0 * * * *", target="nas-1", jitter_s=5.0)],
        id="update-reports-only-changed-fields",
    ),
    pytest.param([created()], update(spec=SPEC), [], id="update-same-value-noop"),
    pytest.param([created()], update(), [], id="update-empty-patch-noop"),
    pytest.param([created()], update(tz="utc"), [], id="update-normalizes-to-same-noop"),
    pytest.param(
        [created(), updated(2, ["spec"], "0 * * * *")],
        update(spec="0 * * * *"),
        [],
        id="update-repeated-noop",
    ),
    pytest.param(
        [created(), paused(2)],
        update(spec="0 * * * *"),
        [updated(3, ["spec"], "0 * * * *")],
        id="update-while-paused",
    ),
    pytest.param(
        [created(), completed(2)],
        update(spec="0 * * * *"),
        [updated(3, ["spec"], "0 * * * *")],
        id="update-completed",
    ),
    pytest.param(
        [created(), completed(2)],
        update(),
        [],
        id="update-completed-unchanged-noop",
    ),
    # update: nested patches change only the fields they set
    pytest.param(
        [created(retry=RetryPolicy(max_attempts=3))],
        update(retry=RetryPatch(initial_backoff_s=60.0)),
        [updated(2, ["retry"], retry=RetryPolicy(max_attempts=3, initial_backoff_s=60.0))],
        id="update-backoff-keeps-attempts",
    ),
    pytest.param(
        [created(retry=RetryPolicy(initial_backoff_s=60.0))],
        update(retry=RetryPatch(max_attempts=6)),
        [updated(2, ["retry"], retry=RetryPolicy(max_attempts=6, initial_backoff_s=60.0))],
        id="update-attempts-keeps-backoff",
    ),
    pytest.param(
        [created(catchup=CatchUp(policy="all"))],
        update(catchup=CatchUpPatch(window_s=600.0)),
        [updated(2, ["catchup"], catchup=CatchUp(policy="all", window_s=600.0))],
        id="update-catchup-window-keeps-policy",
    ),
    pytest.param(
        [created(conditions=COND)],
        update(conditions=ConditionsPatch(max_cpu_percent=70.0)),
        [
            updated(
                2,
                ["conditions"],
                conditions=Conditions(
                    disk_path="/srv", disk_above_percent=80.0, max_cpu_percent=70.0
                ),
            )
        ],
        id="update-one-condition-keeps-the-others",
    ),
    pytest.param(
        [created()],
        update(conditions=ConditionsPatch(max_cpu_percent=70.0)),
        [updated(2, ["conditions"], conditions=Conditions(max_cpu_percent=70.0))],
        id="update-first-condition",
    ),
    pytest.param(
        [created(conditions=COND)],
        update(conditions=None),
        [updated(2, ["conditions"])],
        id="update-clears-conditions",
    ),
    pytest.param(
        [created(conditions=Conditions(max_cpu_percent=70.0))],
        update(conditions=ConditionsPatch(max_cpu_percent=None)),
        [updated(2, ["conditions"])],
        id="update-clearing-the-last-condition-leaves-none",
    ),
    pytest.param(
        [created()],
        update(job=JobPatch(env={"A": "1"}, cwd="/srv")),
        [updated(2, ["job"], job=Job(command=JOB.command, env={"A": "1"}, cwd="/srv"))],
        id="update-env-and-cwd-keep-the-command",
    ),
    pytest.param(
        [created()],
        update(job=JobPatch(command=None, shell="echo hi")),
        [updated(2, ["job"], job=Job(shell="echo hi"))],
        id="update-command-to-shell",
    ),
    pytest.param(
        [created(end=AT + timedelta(days=1))],
        update(end=None),
        [updated(2, ["end"])],
        id="update-clears-end",
    ),
    # pause
    pytest.param([created()], pause(), [paused(2)], id="pause"),
    pytest.param(
        [created()],
        pause(reason="disk swap"),
        [paused(2, reason="disk swap")],
        id="pause-with-reason",
    ),
    pytest.param(
        [created()],
        pause(reason="3 failures", by_system=True, resume_at=LATER),
        [paused(2, reason="3 failures", by_system=True, resume_at=LATER)],
        id="pause-by-system-with-resume-at",
    ),
    pytest.param([created(), paused(2)], pause(reason="again"), [], id="pause-already-paused"),
    pytest.param(
        [created(), paused(2)], pause(by_system=True), [], id="pause-system-over-operator-noop"
    ),
    pytest.param(SYSTEM_PAUSED, pause(by_system=True), [], id="pause-system-over-system-noop"),
    pytest.param(
        SYSTEM_PAUSED,
        pause(reason="investigating"),
        [paused(3, reason="investigating")],
        id="pause-operator-takes-over-system-pause",
    ),
    # resume
    pytest.param([created(), paused(2)], resume(), [resumed(3)], id="resume"),
    pytest.param([created()], resume(), [], id="resume-already-active"),
    pytest.param([created(), paused(2), resumed(3)], resume(), [], id="resume-repeated-noop"),
    pytest.param(SYSTEM_PAUSED, resume(), [resumed(3)], id="resume-system-pause-by-operator"),
    pytest.param(
        SYSTEM_PAUSED,
        resume(only_if_system_paused=True),
        [resumed(3)],
        id="cooldown-resumes-system-pause",
    ),
    pytest.param(
        [created(), paused(2)],
        resume(only_if_system_paused=True),
        [],
        id="cooldown-keeps-operator-pause",
    ),
    pytest.param(
        [*SYSTEM_PAUSED, paused(3)],
        resume(only_if_system_paused=True),
        [],
        id="cooldown-keeps-operator-pause-over-system-pause",
    ),
    pytest.param([created()], resume(only_if_system_paused=True), [], id="cooldown-active-noop"),
    # delete
    pytest.param([created()], delete(), [deleted(2)], id="delete"),
    pytest.param([created(), paused(2)], delete(), [deleted(3)], id="delete-paused"),
    pytest.param([created(), completed(2)], delete(), [deleted(3)], id="delete-completed"),
    # trigger
    pytest.param([created()], trigger(), [manual_run(1)], id="trigger"),
    pytest.param([created(), paused(2)], trigger(), [manual_run(2)], id="trigger-while-paused"),
    pytest.param(
        [
            created(),
            updated(
                2,
                ["target", "timeout_s", "retry"],
                target="nas-1",
                timeout_s=None,
                retry=RetryPolicy(max_attempts=3),
            ),
        ],
        trigger(),
        [manual_run(2, target="nas-1", timeout_s=None, retry=RetryPolicy(max_attempts=3))],
        id="trigger-uses-current-definition",
    ),
    pytest.param(
        [created()],
        trigger(command_id="cmd-trigger-2"),
        [manual_run(1, command_id="cmd-trigger-2")],
        id="trigger-run-id-from-command-id",
    ),
    # complete
    pytest.param(
        [created()],
        complete(reason="no fires left"),
        [completed(2, reason="no fires left")],
        id="complete",
    ),
    pytest.param([created(), paused(2)], complete(), [completed(3)], id="complete-paused"),
    pytest.param([created(), completed(2)], complete(), [], id="complete-already-completed"),
    pytest.param(
        [created()],
        complete(schedule_id="other-incarnation"),
        [],
        id="complete-other-schedule-id-noop",
    ),
    pytest.param(
        [created(), deleted(2), created(sid="second")],
        complete(),
        [],
        id="complete-of-deleted-incarnation-noop",
    ),
    pytest.param([created(), deleted(2)], complete(), [], id="complete-deleted-noop"),
    pytest.param([], complete(), [], id="complete-absent-noop"),
]


@pytest.mark.parametrize(("given_", "when", "then"), ACCEPTED)
def test_accepted(given_: list[Event], when: AnyCommand, then: list[Event]) -> None:
    assert decide(fold(given_), when) == then


# -- state after the events ------------------------------------------------------------


def _after(given_: list[Event], when: AnyCommand) -> ScheduleState:
    state = fold(given_)
    return fold(decide(state, when), state)


def test_update_while_paused_stays_paused() -> None:
    state = _after([created(), paused(2, reason="disk swap")], update(spec="0 * * * *"))
    assert (state.status, state.version, state.paused_reason) == ("paused", 3, "disk swap")
    assert state.definition == definition("0 * * * *")


def test_update_of_completed_reactivates() -> None:
    state = _after([created(), completed(2)], update(spec="@daily"))
    assert (state.status, state.version) == ("active", 3)


def test_trigger_does_not_change_state() -> None:
    for given_ in ([created()], [created(), paused(2)], SYSTEM_PAUSED):
        assert _after(given_, trigger()) == fold(given_)


def test_trigger_run_id_is_stable_per_command_id() -> None:
    state = fold([created()])
    [first], [retried], [other] = (
        decide(state, trigger(command_id=c)) for c in ("cmd-1", "cmd-1", "cmd-2")
    )
    assert isinstance(first, RunTriggered) and isinstance(other, RunTriggered)
    assert first == retried
    assert first.run_id != other.run_id


def test_cooldown_after_operator_takes_over_keeps_it_paused() -> None:
    state = _after(SYSTEM_PAUSED, pause(reason="investigating"))
    assert decide(state, resume(only_if_system_paused=True)) == []
    assert (state.status, state.paused_by_system, state.paused_reason) == (
        "paused",
        False,
        "investigating",
    )


def test_delete_then_create_is_a_new_incarnation() -> None:
    state = _after(
        [created(), updated(2, ["spec"], "@daily"), paused(3), deleted(4)],
        create(spec="@hourly", command_id="cmd-create-2"),
    )
    assert state.schedule_id not in ("", SID)
    assert (state.status, state.version, state.paused_reason) == ("active", 1, "")
    assert state.definition == definition("@hourly")


def test_fold_ignores_events_of_other_aggregates() -> None:
    assert fold([created(), manual_run(1)]) == fold([created()])
    assert evolve(INITIAL, manual_run(1)) is INITIAL


# -- rejected commands ------------------------------------------------------------------

LIVE = [created()]
GONE = [created(), deleted(2)]
COMPLETED = [created(), completed(2)]

REJECTED = [
    # names
    pytest.param([], create(""), CommandRejected, r"invalid schedule name ''", id="name-empty"),
    pytest.param(
        [],
        create("a" * 65),
        CommandRejected,
        r"invalid schedule name 'a{65}'.*1-64",
        id="name-65-chars",
    ),
    pytest.param(
        [], create("nightly backup"), CommandRejected, r"invalid schedule name", id="name-space"
    ),
    pytest.param(
        [], create("team/backup"), CommandRejected, r"invalid schedule name", id="name-slash"
    ),
    pytest.param(
        [], create("backup*"), CommandRejected, r"invalid schedule name", id="name-wildcard"
    ),
    # existence
    pytest.param(
        LIVE,
        create(),
        CommandRejected,
        r"'backup' already exists.*schedule update",
        id="create-duplicate",
    ),
    pytest.param(
        [created(), paused(2)],
        create(),
        CommandRejected,
        r"already exists",
        id="create-duplicate-paused",
    ),
    pytest.param(
        COMPLETED, create(), CommandRejected, r"already exists", id="create-duplicate-completed"
    ),
    *(
        pytest.param(
            g,
            cmd,
            ScheduleNotFound,
            r"schedule 'backup' not found",
            id=f"{cmd.__struct_config__.tag}-{label}",
        )
        for g, label in (([], "unknown"), (GONE, "deleted"))
        for cmd in (update(spec="@daily"), pause(), resume(), delete(), trigger())
    ),
    # lifecycle
    pytest.param(
        COMPLETED,
        pause(),
        CommandRejected,
        r"'backup' is completed; nothing left",
        id="pause-completed",
    ),
    pytest.param(
        COMPLETED,
        resume(),
        CommandRejected,
        r"'backup' is completed; give it a new spec",
        id="resume-completed",
    ),
    # spec and zone
    pytest.param(
        [],
        create(spec="61 * * * *"),
        CommandRejected,
        r"minute field: 61 is out of",
        id="spec-minute-61",
    ),
    pytest.param(
        LIVE,
        update(spec="61 * * * *"),
        CommandRejected,
        r"minute field: 61",
        id="update-spec-minute-61",
    ),
    pytest.param(
        [],
        create(spec="*/5 * * *"),
        CommandRejected,
        r"expected 5 fields.*got 4",
        id="spec-4-fields",
    ),
    pytest.param(
        [], create(spec="0 0 30 2 *"), CommandRejected, r"never fires", id="spec-never-fires"
    ),
    pytest.param(
        [], create(spec="@dayly"), CommandRejected, r"did you mean '@daily'", id="spec-macro-typo"
    ),
    pytest.param([], create(spec=""), CommandRejected, r"empty spec", id="spec-empty"),
    pytest.param(
        [],
        create(tz="Europe/Berln"),
        CommandRejected,
        r"unknown time zone 'Europe/Berln' \(did you mean 'Europe/Berlin'\?\)",
        id="tz-typo-hint",
    ),
    pytest.param(
        LIVE,
        update(tz="Mars/Olympus"),
        CommandRejected,
        r"unknown time zone",
        id="update-tz-unknown",
    ),
    # job
    pytest.param(
        [],
        create(job=Job(command=[])),
        CommandRejected,
        r"the command is empty",
        id="job-command-empty",
    ),
    pytest.param(
        [],
        create(job=Job(command=[""])),
        CommandRejected,
        r"the command is empty",
        id="job-command-empty-argv0",
    ),
    pytest.param(
        [],
        create(job=Job(command=["ls"], action="noop")),
        CommandRejected,
        r"exactly one of",
        id="job-command-and-action",
    ),
    pytest.param([], create(job=Job()), CommandRejected, r"exactly one of", id="job-nothing"),
    pytest.param(
        [],
        create(job=Job(shell="  ")),
        CommandRejected,
        r"shell command is empty",
        id="job-shell-blank",
    ),
    pytest.param(
        [],
        create(job=Job(action="rm -rf")),
        CommandRejected,
        r"invalid action name 'rm -rf'",
        id="job-action-name",
    ),
    # target, limits, retry, window
    pytest.param(
        [], create(target="nas 1"), CommandRejected, r"invalid target 'nas 1'", id="target-space"
    ),
    pytest.param(
        [], create(target="all:"), CommandRejected, r"invalid target", id="target-empty-tag"
    ),
    pytest.param(
        [],
        create(timeout_s=-1.0),
        CommandRejected,
        r"timeout must be more than 0s",
        id="timeout-negative",
    ),
    pytest.param(
        LIVE,
        update(timeout_s=0.0),
        CommandRejected,
        r"timeout must be more than 0s",
        id="update-timeout-zero",
    ),
    pytest.param(
        [],
        create(retry=RetryPolicy(multiplier=0.5)),
        CommandRejected,
        r"retry multiplier must be >= 1",
        id="retry-multiplier-below-1",
    ),
    pytest.param(
        [],
        create(retry=RetryPolicy(max_attempts=0)),
        CommandRejected,
        r"max_attempts must be >= 1",
        id="retry-attempts-0",
    ),
    pytest.param(
        [],
        create(retry=RetryPolicy(initial_backoff_s=60, max_backoff_s=30)),
        CommandRejected,
        r"max backoff must be >= initial",
        id="retry-max-below-initial",
    ),
    pytest.param([], create(jitter_s=-1.0), CommandRejected, r"jitter", id="jitter-negative"),
    pytest.param([], create(max_runs=0), CommandRejected, r"max_runs", id="max-runs-0"),
    pytest.param(
        [],
        create(breaker_threshold=-1),
        CommandRejected,
        r"breaker threshold",
        id="breaker-negative",
    ),
    pytest.param(
        [],
        create(catchup=CatchUp(max_fires=0)),
        CommandRejected,
        r"max_fires",
        id="catchup-max-fires-0",
    ),
    pytest.param(
        [],
        create(start=AT, end=AT - timedelta(minutes=1)),
        CommandRejected,
        r"start must be before end",
        id="start-after-end",
    ),
    pytest.param(
        [],
        create(start=AT, end=AT),
        CommandRejected,
        r"start must be before end",
        id="start-equals-end",
    ),
    pytest.param(
        [],
        create(tz="Asia/Tokyo", start=datetime(1, 1, 1)),
        CommandRejected,
        r"start 0001-01-01T00:00:00 is out of range in Asia/Tokyo",
        id="start-out-of-range",
    ),
    # conditions
    pytest.param(
        [],
        create(conditions=Conditions(disk_above_percent=90.0)),
        CommandRejected,
        r"disk conditions need disk_path",
        id="disk-without-path",
    ),
    pytest.param(
        [],
        create(conditions=Conditions(max_cpu_percent=150.0)),
        CommandRejected,
        r"max_cpu_percent must be between 0 and 100",
        id="cpu-above-100",
    ),
]


@pytest.mark.parametrize(("given_", "when", "error", "match"), REJECTED)
def test_rejected(
    given_: list[Event], when: AnyCommand, error: type[Exception], match: str
) -> None:
    state = fold(given_)
    with pytest.raises(error, match=match):
        decide(state, when)


def test_not_found_is_a_lookup_error_and_a_rejection() -> None:
    assert issubclass(ScheduleNotFound, CommandRejected)
    assert issubclass(ScheduleNotFound, LookupError)


@pytest.mark.parametrize(
    "spec",
    ["² * * * *", "*/² * * * *", "@at 0001-01-01T00:00+01:00"],
    ids=["superscript-digit", "superscript-step", "at-out-of-range"],
)
def test_odd_spec_is_rejected_not_crashing(spec: str) -> None:
    with pytest.raises(CommandRejected):
        decide(INITIAL, create(spec=spec))


# -- property: decide/fold never crash and versions step by one ------------------------

NAMES = ["backup", "report", "", "bad name"]
COMMAND_IDS = ["c1", "c2", "c3"]
SPECS = [
    SPEC,
    "@daily",
    "@every 90s",
    "@at 2026-05-01T09:30",
    "61 * * * *",
    "0 0 30 2 *",
    "",
    "@bogus",
]
ZONES = ["UTC", "Europe/Berlin", "europe/berlin", "Australia/Lord_Howe", "Europe/Berln"]
JOBS = [
    JOB,
    Job(action="noop"),
    Job(shell="echo hi"),
    Job(command=[]),
    Job(),
    Job(command=["ls"], action="noop"),
]
ZONED = st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
BOUNDS = st.none() | st.datetimes(timezones=ZONED)


@st.composite
def definition_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A mix of valid and invalid definition fields (a subset, for patches)."""
    choices = {
        "spec": st.sampled_from(SPECS),
        "tz": st.sampled_from(ZONES),
        "job": st.sampled_from(JOBS),
        "target": st.sampled_from(["default", "nas-1", "all:gpu", "bad target"]),
        "timeout_s": st.sampled_from([None, 60.0, 0.0, -1.0]),
        "retry": st.sampled_from(
            [RetryPolicy(), RetryPolicy(max_attempts=3), RetryPolicy(multiplier=0.5)]
        ),
        "conditions": st.sampled_from([None, COND, Conditions(disk_below_percent=5.0)]),
        "start": BOUNDS,
        "end": BOUNDS,
        "jitter_s": st.sampled_from([0.0, 30.0, -1.0]),
    }
    keys = draw(st.lists(st.sampled_from(sorted(choices)), unique=True))
    return {k: draw(choices[k]) for k in keys}


def as_patch(fields: dict[str, Any]) -> dict[str, Any]:
    """Definition fields as patch fields: a nested part becomes the patch that sets its fields."""
    return {
        k: msgspec.convert(msgspec.to_builtins(v), PATCH_OF[type(v)]) if type(v) in PATCH_OF else v
        for k, v in fields.items()
    }


@st.composite
def commands(draw: st.DrawFn) -> AnyCommand:
    """Any command against a few names, valid or not."""
    meta = _meta(
        draw(st.sampled_from(NAMES)),
        draw(st.sampled_from(COMMAND_IDS)),
        at=draw(st.sampled_from([AT, LATER])),
    )
    verb = draw(
        st.sampled_from(["create", "update", "pause", "resume", "delete", "trigger", "complete"])
    )
    if verb == "create":
        fields = draw(definition_fields())
        return CreateSchedule(**meta, definition=definition(fields.pop("spec", SPEC), **fields))
    if verb == "update":
        return UpdateSchedule(**meta, patch=DefinitionPatch(**as_patch(draw(definition_fields()))))
    if verb == "pause":
        return PauseSchedule(
            **meta, by_system=draw(st.booleans()), resume_at=draw(st.sampled_from([None, LATER]))
        )
    if verb == "resume":
        return ResumeSchedule(**meta, only_if_system_paused=draw(st.booleans()))
    if verb == "complete":
        sid = derived_id("schedule", meta["name"], draw(st.sampled_from(COMMAND_IDS)))
        return CompleteSchedule(**meta, schedule_id=draw(st.sampled_from([sid, "other"])))
    return {"delete": DeleteSchedule, "trigger": TriggerSchedule}[verb](**meta)


def _check_versions(state: ScheduleState, new: list[Event]) -> None:
    for event in new:
        if isinstance(event, ScheduleCreated):
            assert not state.live and event.version == 1
        elif isinstance(event, ScheduleEvent):
            assert event.schedule_id == state.schedule_id
            assert event.version == state.version + 1
        else:
            assert isinstance(event, RunTriggered)
            assert (event.schedule_id, event.version) == (state.schedule_id, state.version)
        state = evolve(state, event)


@given(st.lists(commands(), max_size=25))
@settings(max_examples=300, deadline=None)
def test_any_command_sequence_keeps_versions_consecutive(cmds: list[AnyCommand]) -> None:
    logs: dict[str, list[Event]] = {}
    for cmd in cmds:
        state = fold(logs.get(cmd.name, []))
        try:
            new = decide(state, cmd)
        except CommandRejected:
            continue
        _check_versions(state, new)
        logs.setdefault(cmd.name, []).extend(new)
        after = fold(new, state)
        assert after == fold(logs[cmd.name])
        assert after.name in ("", cmd.name)
        if not isinstance(cmd, CreateSchedule | DeleteSchedule | TriggerSchedule):
            # why: a repeated pause/resume/update/complete is already satisfied.
            assert decide(after, cmd) == []


@given(commands())
@settings(max_examples=200, deadline=None)
def test_commands_survive_the_wire(cmd: AnyCommand) -> None:
    assert command_decoder.decode(msgspec.json.encode(cmd)) == cmd


@pytest.mark.parametrize(
    ("command", "match"),
    [
        (create(spec="@at 2026-02-01T09:00:00Z"), "no fire time after now: it would never run"),
        (
            create(spec="@daily", end=datetime(2026, 2, 1, tzinfo=UTC)),
            "no fire time left before its end",
        ),
    ],
    ids=["at-in-the-past", "end-in-the-past"],
)
def test_a_schedule_that_could_never_fire_is_rejected(command: CreateSchedule, match: str) -> None:
    with pytest.raises(CommandRejected, match=match):
        decide(INITIAL, command)


def test_an_update_to_a_past_one_off_is_rejected() -> None:
    state = fold(decide(INITIAL, create()))
    with pytest.raises(CommandRejected, match="would never run"):
        decide(state, update(spec="@at 2020-01-01T00:00:00Z"))


def test_a_start_that_leaves_no_fire_is_rejected() -> None:
    state = fold(decide(INITIAL, create(spec="@at 2026-03-02T00:00:00Z")))
    with pytest.raises(CommandRejected, match="would never run"):
        decide(state, update(start=datetime(2026, 3, 3, tzinfo=UTC)))


def test_a_one_off_at_its_own_start_is_accepted() -> None:
    # why: start is inclusive for the ticker, so the decider must not call this "never fires"
    when = AT + timedelta(hours=1)
    [event] = decide(INITIAL, create(spec=f"@at {when.isoformat()}", start=when))
    assert isinstance(event, ScheduleCreated) and event.definition.start == when


@pytest.mark.parametrize(
    ("when", "then"),
    [
        pytest.param(
            msgspec.structs.replace(pause(), expected_version=1), [paused(2)], id="version-matches"
        ),
        pytest.param(
            msgspec.structs.replace(pause(), expected_version=None), [paused(2)], id="no-version"
        ),
    ],
)
def test_expected_version_that_matches_is_applied(when: AnyCommand, then: list[Event]) -> None:
    assert decide(fold([created()]), when) == then


@pytest.mark.parametrize("when", [update(description="x"), pause(), delete(), trigger()])
def test_a_stale_expected_version_is_refused(when: AnyCommand) -> None:
    from jetcron.domain.errors import VersionMismatch

    stale = msgspec.structs.replace(when, expected_version=1)
    with pytest.raises(VersionMismatch, match="is at version 2, not 1"):
        decide(fold([created(), paused(2, reason="r")]), stale)


def backfill(fire_time: datetime, *, rerun: int = 0, command_id: str = "cmd-bf") -> BackfillFire:
    """Backfill the fire at `fire_time` (sent at LATER)."""
    return BackfillFire(**_meta(NAME, command_id, at=LATER), fire_time=fire_time, rerun=rerun)


def test_backfill_runs_the_slot_marked_and_linked_without_changing_state() -> None:
    slot_time = datetime(2026, 3, 1, 11, 55, tzinfo=UTC)
    for given_ in ([created()], [created(), paused(2)]):
        state = fold(given_)
        [event] = decide(state, backfill(slot_time))
        assert isinstance(event, RunTriggered)
        assert event.fire_time == slot_time and not event.manual and event.forced
        assert event.backfill_of == f"{SID}:20260301T115500Z"
        assert event.fire_id == f"{SID}:20260301T115500Z:backfill"
        assert event.run_id == run_id_for(event.fire_id)
        assert _after(given_, backfill(slot_time)) == state


def test_backfill_is_one_run_per_slot_and_rerun_and_not_per_command() -> None:
    state = fold([created()])
    slot_time = datetime(2026, 3, 1, 11, 55, tzinfo=UTC)
    [first], [again], [rerun], [other] = (
        decide(state, cmd)
        for cmd in (
            backfill(slot_time, command_id="a"),
            backfill(slot_time, command_id="b"),
            backfill(slot_time, rerun=1, command_id="c"),
            backfill(slot_time - timedelta(minutes=5), command_id="d"),
        )
    )
    assert isinstance(first, RunTriggered) and isinstance(rerun, RunTriggered)
    assert isinstance(other, RunTriggered) and isinstance(again, RunTriggered)
    # why: the run id (and the trigger's Nats-Msg-Id, its fire id) ignore the command id
    assert (first.run_id, first.fire_id) == (again.run_id, again.fire_id)
    assert rerun.run_id != first.run_id and rerun.backfill_of == first.backfill_of
    assert other.run_id != first.run_id


def test_backfill_rejects_a_future_fire_and_an_unknown_schedule() -> None:
    with pytest.raises(CommandRejected, match="has not come yet"):
        decide(fold([created()]), backfill(LATER + timedelta(minutes=1)))
    with pytest.raises(ScheduleNotFound):
        decide(INITIAL, backfill(AT))
    with pytest.raises(ScheduleNotFound):
        decide(fold([created(), deleted(2)]), backfill(AT))


def test_a_run_of_a_deleted_schedule_can_still_be_cancelled() -> None:
    gone = [created(), deleted(2)]
    cancel = CancelRun(**_meta(NAME, "cmd-cancel", "stuck"), run_id="r1")

    assert decide(fold(gone), cancel) == [
        RunCancelRequested(schedule_id=SID, name=NAME, run_id="r1", reason="stuck")
    ]
    with pytest.raises(ScheduleNotFound):
        decide(fold([]), cancel)


def test_a_spec_is_stored_normalised_and_whitespace_is_no_change() -> None:
    # newcomer20c #6: '30  2 * * *' made a new version and an audit entry
    [made] = decide(INITIAL, create(spec=" @daily "))
    assert isinstance(made, ScheduleCreated) and made.definition.spec == "@daily"
    state = fold([created(spec="30 2 * * *")])
    assert decide(state, update(spec="30  2 *  * *\t")) == []


def test_an_older_logs_spaced_spec_compares_equal_and_keeps_its_text() -> None:
    state = fold([created(spec="30  2 * * *")])  # stored by an older jetcron
    assert decide(state, update(spec="30 2 * * *")) == []
    [event] = decide(state, update(timeout_s=60.0))
    assert isinstance(event, ScheduleUpdated)
    assert event.changed == ["timeout_s"] and event.definition.spec == "30  2 * * *"
