"""What `up` prints of the fires not run: one line per schedule and outage (cli/echo.py), from
the events the real planner decides after an outage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from jetcron.cli.echo import MAX_KINDS, QUIET_S, Unrun, echo_runs
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
        f"(scheduler down), 11 coalesced into 04:09:50; 10 decided 11–56 s after their fires: "
        f"scheduler down (each: `jetcron fires {n}`)"
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


OUT = "NATS unreachable from 2026-12-03T13:15:40Z to 2026-12-03T13:16:53Z"


def _gathered(events: list[FireMissed | RunSkipped]) -> str:
    unrun = Unrun(Clock())
    for i, e in enumerate(events):
        unrun.add(Envelope(id=str(i), at=BACK, actor="t", event=e))
    [said] = unrun.rest()
    return said


def _fire(i: int, reason: str, missed: bool = False) -> FireMissed | RunSkipped:
    at = DOWN_FROM + timedelta(seconds=10 * i)
    kind = FireMissed if missed else RunSkipped
    return kind(schedule_id="x", name="x", fire_id=f"f{i}", fire_time=at, reason=reason)


def test_a_cause_naming_its_outages_times_is_not_cut_at_their_colon() -> None:
    """newcomer21c #3: `1 missed (NATS unreachable from 2026-12-03T13)`."""
    said = _gathered([_fire(i, f"{OUT}: catch-up policy is none", missed=True) for i in range(3)])
    assert "not run: 3 missed (NATS unreachable) (each:" in said


def test_skips_decided_late_by_different_delays_are_one_clause() -> None:
    """newcomer21c #4: one clause per fire (each its own `decided N s`), 4,938 characters."""
    skip = "overlap: previous run still in flight"
    fires = [_fire(i, f"{skip}; decided {7 + i} s after its fire: {OUT}") for i in range(41)]
    fires += [_fire(41, skip), _fire(42, f"{OUT}: catch-up policy is none", missed=True)]
    said = _gathered(fires)
    assert said.endswith(
        f"x 43 fires 2026-12-03T04:08:32Z–04:15:32 not run: 42 skipped ({skip}), 1 missed "
        f"(NATS unreachable); 41 decided 7–47 s after their fires: {OUT} (each: `jetcron fires x`)"
    )


def test_a_line_stays_short_whatever_the_reasons() -> None:
    kinds = [_fire(i, f"refused number {i} (detail {i})") for i in range(MAX_KINDS + 3)]
    late = [_fire(20 + i, f"skip; decided 20 s after its fire: cause {i}") for i in range(5)]
    said = _gathered(kinds + late)
    assert said.count("skipped (refused number") == MAX_KINDS
    assert ", and 8 for other reasons; 5 decided 20 s after their fires: cause 0, cause 1 " in said
    assert "and 3 more" in said and len(said) < 400
