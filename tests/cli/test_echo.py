"""What `up` prints of the fires not run: one line per schedule and outage (cli/echo.py), from
the events the real planner decides after an outage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from jetcron.cli.echo import QUIET_S, Unrun, echo_runs
from jetcron.cli.follow import event_line
from jetcron.domain.commands import CreateSchedule, PauseSchedule, ResumeSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import FireMissed, RunSkipped
from jetcron.log.stream import EventLog
from jetcron.scheduler.appends import event_for
from jetcron.scheduler.breaker import ACTOR as BREAKER_ACTOR
from jetcron.scheduler.entry import Entry
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.planner import Miss, Skip, decide_due

DOWN_FROM = datetime(2026, 12, 3, 4, 8, 32, tzinfo=UTC)
BACK = DOWN_FROM + timedelta(seconds=79)  # 04:09:51


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def outage(name: str, overlap: str = "skip") -> list[Envelope]:
    """The fires not run that the planner decides for an `@every 5s` schedule back at BACK."""
    d = ScheduleDefinition(spec="@every 5s", job=Job(command=["true"]), overlap=overlap)  # type: ignore[arg-type]
    entry = Entry.of(f"id-{name}", name, 1, d, floor=DOWN_FROM)
    decided = [x for x in decide_due(entry, BACK) if isinstance(x, Miss | Skip)]
    return [
        Envelope(id=str(i), at=BACK, actor="ticker", event=event_for(entry, x)[1])
        for i, x in enumerate(decided)
    ]


def test_an_outage_of_two_schedules_is_one_line_each() -> None:
    clock = Clock()
    unrun = Unrun(clock)
    a, b = outage("overlap-skip"), outage("overlap-buf", "buffer_one")
    assert len(a) == len(b) == 15  # 04:08:35 .. 04:09:45; 04:09:50 runs
    for x, y in zip(a, b, strict=True):
        unrun.add(x)
        unrun.add(y)
    assert unrun.due() == []  # still coming, as far as anyone knows
    clock.now += QUIET_S
    lines = sorted(unrun.due())
    assert lines == [
        f"2026-12-03T04:09:51Z {n} 15 fires 2026-12-03T04:08:35Z–04:09:45 not run: 4 missed "
        f"(scheduler down), 11 coalesced into 04:09:50 (each: `jetcron fires {n}`)"
        for n in ("overlap-buf", "overlap-skip")
    ]
    assert unrun.due() == unrun.rest() == []


def test_a_single_fire_not_run_keeps_its_own_line() -> None:
    clock = Clock()
    unrun = Unrun(clock)
    skip = outage("s")[-1]
    unrun.add(skip)
    clock.now += QUIET_S
    assert unrun.due() == [event_line(skip)]


def test_another_line_of_the_schedule_says_its_gathered_fires_first() -> None:
    unrun = Unrun(Clock())
    fires = outage("s")
    for f in fires:
        unrun.add(f)
    [said] = unrun.before("id-s")
    assert said.startswith("2026-12-03T04:09:51Z s 15 fires")
    assert unrun.before("id-s") == unrun.before("id-other") == []


def test_kinds_of_fires_not_run_are_counted_apart() -> None:
    unrun = Unrun(Clock())
    common = {"schedule_id": "x", "name": "x", "fire_id": "f"}
    at = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
    events = [
        RunSkipped(**common, fire_time=at, reason="overlap: previous run still in flight"),
        RunSkipped(
            **common,
            fire_time=at + timedelta(seconds=5),
            reason="overlap buffer_one: a fire is already waiting (2026-12-03T03:59:55Z) for "
            "the run in flight",
        ),
        FireMissed(**common, fire_time=at + timedelta(days=1), reason="log full: catch-up none"),
    ]
    for i, e in enumerate(events):
        unrun.add(Envelope(id=str(i), at=at + timedelta(days=1), actor="t", event=e))
    [said] = unrun.rest()
    assert said == (
        "2026-12-04T04:00:00Z x 3 fires 2026-12-03T04:00:00Z–2026-12-04T04:00:00Z not run: "
        "1 skipped (overlap: previous run still in flight), 1 skipped (overlap buffer_one: a "
        "fire is already waiting), 1 missed (log full) (each: `jetcron fires x`)"
    )


async def test_the_breakers_pause_and_resume_are_run_lines(nc: Any, capsys: Any) -> None:
    """newcomer19a #9: not `WARNING jetcron.scheduler.breaker: breaker: PauseSchedule expect`."""
    log = await EventLog(nc).open()
    handler = CommandHandler(log)
    d = ScheduleDefinition(spec="@every 1m", job=Job(command=["false"]))
    meta = {"name": "expect", "at": BACK, "actor": BREAKER_ACTOR}
    await handler.handle(CreateSchedule(**{**meta, "actor": "alice"}, command_id="c", definition=d))
    await handler.handle(
        PauseSchedule(**{**meta, "actor": "alice"}, command_id="p0", reason="tank")
    )
    await handler.handle(ResumeSchedule(**{**meta, "actor": "alice"}, command_id="r0"))
    pause = PauseSchedule(
        **meta, command_id="p", by_system=True, resume_at=BACK + timedelta(minutes=10),
        reason="circuit open: 3 consecutive failures",
    )  # fmt: skip
    await handler.handle(pause)
    resume = ResumeSchedule(
        **meta, command_id="r", reason="circuit half-open: cool-down over",
        only_if_system_paused=True,
    )  # fmt: skip
    await handler.handle(resume)
    stop = asyncio.Event()
    echo = asyncio.create_task(echo_runs(nc, stop, 0))
    await asyncio.sleep(1.0)
    stop.set()
    await echo
    await log.close()

    assert capsys.readouterr().err.splitlines() == [
        "2026-12-03T04:09:51Z expect paused by the breaker: 3 consecutive failures; "
        "resumes at 2026-12-03T04:19:51Z",
        "2026-12-03T04:09:51Z expect resumed by the breaker: cool-down over",
    ]  # why: an operator's own pause and resume are not echoed


def test_a_run_line_says_the_reason_whole() -> None:
    # newcomer20b F5: cut at 100 characters, mid-word, before the half naming the outage
    [skip, *_] = [e for e in outage("s") if "; decided" in getattr(e.event, "reason", "")]
    reason = skip.event.reason  # type: ignore[union-attr]
    assert len(reason) > 100
    assert event_line(skip).endswith(f": {reason}")
