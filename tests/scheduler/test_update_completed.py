"""An update of a completed schedule reopens it only if the change may give it fires again
(newcomer16a 4): the decider decides, and the aggregate, the ticker, the schedules view and
the fire lifecycle all fold `ScheduleUpdated.reopens` by the one rule (status_after_update)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from test_decider import AT, NAME, SID, completed, created, definition, update

from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import Event, ScheduleUpdated
from jetcron.scheduler.decider import decide, fold
from jetcron.scheduler.state import TickerState

AT_SPENT = "@at 2026-03-01T11:00:00Z"
"""A one-off an hour before the command's time (AT): spent."""


def _updated(changed: list[str], reopens: bool, spec: str = "*/5 * * * *", **kw: Any) -> Any:
    return ScheduleUpdated(
        schedule_id=SID,
        name=NAME,
        version=3,
        definition=definition(spec, **kw),
        changed=changed,
        reopens=reopens,
    )


CASES = [
    pytest.param(
        dict(max_runs=1),
        update(timeout_s=300.0),
        False,
        dict(max_runs=1, timeout_s=300.0),
        id="run-limit-reached-timeout-changed-stays-completed",
    ),
    pytest.param(
        dict(max_runs=1),
        update(max_runs=5),
        True,
        dict(max_runs=5),
        id="higher-run-limit-reopens",
    ),
    pytest.param(
        dict(max_runs=3),
        update(max_runs=2),
        False,
        dict(max_runs=2),
        id="lower-run-limit-stays-completed",
    ),
    pytest.param(
        dict(max_runs=1),
        update(spec="@hourly"),
        True,
        dict(max_runs=1),
        id="new-spec-reopens",
    ),
    pytest.param(
        dict(end=AT - timedelta(hours=1)),
        update(end=None),
        True,
        {},
        id="end-lifted-reopens",
    ),
    pytest.param(
        dict(spec=AT_SPENT),
        update(timeout_s=300.0),
        False,
        dict(timeout_s=300.0),
        id="spent-one-off-stays-completed",
    ),
    pytest.param(
        dict(spec=AT_SPENT, max_runs=1),
        update(max_runs=2),
        False,
        dict(max_runs=2),
        id="spent-one-off-higher-limit-has-no-fire-left",
    ),
]


@pytest.mark.parametrize(("given", "when", "reopens", "then"), CASES)
def test_update_of_a_completed_schedule(
    given: dict[str, Any], when: Any, reopens: bool, then: dict[str, Any]
) -> None:
    spec = given.pop("spec", "*/5 * * * *")
    history: list[Event] = [created(spec=spec, **given), completed(2)]
    state = fold(history)
    [event] = decide(state, when)
    new_spec = "@hourly" if "spec" in event.changed else spec
    assert event == _updated(event.changed, reopens, new_spec, **then)
    after = fold([event], state)
    assert after.status == ("active" if reopens else "completed")


def _stored(seq: int, event: Event) -> StoredEvent:
    envelope = Envelope(id=f"e{seq}", at=AT + timedelta(seconds=seq), actor="t", event=event)
    return StoredEvent(seq, f"jetcron.sched.{NAME}", envelope)


@pytest.mark.parametrize("reopens", [False, True])
def test_the_ticker_folds_the_same_rule(reopens: bool) -> None:
    state = TickerState()
    history = [created(max_runs=1), completed(2), _updated(["max_runs"], reopens, max_runs=1)]
    for seq, event in enumerate(history, 1):
        state.apply(_stored(seq, event))
    assert state.entries[SID].completed is not reopens


async def test_the_ticker_fires_again_only_when_reopened_and_completes_again(event_log) -> None:
    """A run limit reached: a new timeout leaves the schedule completed (no fires); a higher
    limit fires again; a new spec with the limit still reached is completed again by the same
    ticker (it used to remember its first completion and leave the schedule active for good)."""
    from test_ticker import T0, add, burst, events, of

    from jetcron.clock import FakeClock
    from jetcron.domain.commands import UpdateSchedule
    from jetcron.domain.definition import DefinitionPatch
    from jetcron.domain.events import RunTriggered, ScheduleCompleted
    from jetcron.scheduler.handler import CommandHandler
    from jetcron.scheduler.ticker import Ticker

    async def change(n: int, **patch: Any) -> None:
        command = UpdateSchedule(
            name="three",
            command_id=f"u{n}",
            at=clock.now(),
            actor="t",
            patch=DefinitionPatch(**patch),
        )
        await CommandHandler(event_log).handle(command)
        await burst(ticker, clock, clock.now() + timedelta(seconds=30), step=timedelta(seconds=5))

    await add(event_log, "three", spec="@every 5s", max_runs=1)
    clock = FakeClock(T0)
    ticker = Ticker(event_log, clock=clock)
    await burst(ticker, clock, T0 + timedelta(seconds=20), step=timedelta(seconds=5))
    await change(1, timeout_s=300.0)
    evs = await events(event_log)
    assert (len(of(evs, RunTriggered)), len(of(evs, ScheduleCompleted))) == (1, 1)
    assert ticker.state.entries[next(iter(ticker.state.entries))].completed
    await change(2, max_runs=2)
    evs = await events(event_log)
    assert (len(of(evs, RunTriggered)), len(of(evs, ScheduleCompleted))) == (2, 2)
    await change(3, spec="@every 7s")
    completions = of(await events(event_log), ScheduleCompleted)
    assert [c.reason for c in completions] == ["run limit of 1 reached"] + [
        "run limit of 2 reached"
    ] * 2
