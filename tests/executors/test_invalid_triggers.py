"""Triggers jetcron never writes are refused, never run (newcomer16b F8): a run id that is not
one subject token (its events would all be rejected, leaving the run `triggered` for good) is
dropped as poison; a negative timeout, an empty command, ... are recorded as refused. The rule
(`validation.trigger_problem`) is the definition's, so what the scheduler writes passes it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client
from test_agent import config, events, kinds, publish, trigger

from jetcron.domain.commands import CreateSchedule, TriggerSchedule
from jetcron.domain.definition import Job, RetryPolicy, ScheduleDefinition
from jetcron.domain.events import RunFailed, RunTriggered
from jetcron.domain.validation import trigger_problem
from jetcron.executors.agent import Executor
from jetcron.log.stream import EventLog
from jetcron.scheduler.decider import decide, fold

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def touching(witness: Path) -> Job:
    return Job(command=["touch", str(witness)])


async def test_a_run_id_with_dots_is_dropped_unrun_with_one_line(
    nc: Client, event_log: EventLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    witness = tmp_path / "ran"
    bad = msgspec.structs.replace(trigger(touching(witness)), run_id="bad.run.id")
    good = trigger(Job(command=["true"]))
    await publish(event_log, bad, good)
    executor = Executor(nc, config())
    with caplog.at_level(logging.WARNING, logger="jetcron.executors.agent"):
        assert await executor.run_burst(5) == 2

    assert not witness.exists()
    assert executor.stats.poison == 1
    [line] = [r.getMessage() for r in caplog.records if "invalid trigger" in r.getMessage()]
    assert line == (
        "executor host-a: dropping an invalid trigger on jetcron.trigger.default: "
        "invalid run id 'bad.run.id': 1-64 letters, digits, '_' or '-'"
    )
    assert kinds(await events(event_log, good)) == ["RunStarted", "RunSucceeded"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"timeout_s": -5.0}, "timeout must be more than 0s (none: never stop it)"),
        ({"timeout_s": 0.0}, "timeout must be more than 0s (none: never stop it)"),
        ({"retry": RetryPolicy(max_attempts=0)}, "retry max_attempts must be >= 1"),
        ({"target": "default"}, None),
    ],
    ids=["negative-timeout", "zero-timeout", "no-attempts", "valid"],
)
async def test_a_forged_field_is_recorded_as_refused_and_not_run(
    nc: Client, event_log: EventLog, tmp_path: Path, fields: dict[str, object], problem: str | None
) -> None:
    witness = tmp_path / "ran"
    t = trigger(touching(witness), **fields)
    await publish(event_log, t)
    await Executor(nc, config()).run_burst(5)
    evs = await events(event_log, t)

    if problem is None:
        assert witness.exists() and kinds(evs) == ["RunStarted", "RunSucceeded"]
        return
    assert not witness.exists()
    [refused] = evs
    assert isinstance(refused, RunFailed) and refused.next_retry_at is None
    assert refused.error == f"not run: invalid trigger: {problem}"


def test_every_trigger_the_scheduler_writes_passes_the_rule() -> None:
    definitions = [
        ScheduleDefinition(spec="@every 10s", job=Job(command=["true"])),
        ScheduleDefinition(spec="0 3 * * *", job=Job(shell="echo hi"), timeout_s=60.0,
                           target="all:lights", retry=RetryPolicy(max_attempts=3)),
        ScheduleDefinition(spec="@hourly", job=Job(action="sleep", params={"s": "1"}),
                           target="pool.a"),
    ]  # fmt: skip
    for i, d in enumerate(definitions):
        meta = {"name": f"s.{i}", "at": AT, "actor": "t"}
        state = fold(decide(fold([]), CreateSchedule(**meta, command_id="c", definition=d)))
        [fired] = decide(state, TriggerSchedule(**meta, command_id="t"))
        assert isinstance(fired, RunTriggered)
        assert trigger_problem(fired) is None, d
