"""`jetcron why`: which fire a time asks about (or why no fire is there), its story (fire_story.py),
and the last manual run when no fire went wrong; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec
import pytz

from jetcron.domain.dst import local
from jetcron.domain.fires import next_fire_within, previous_fire_within
from jetcron.domain.runs import FANNED_OUT
from jetcron.projections import fanout
from jetcron.projections.asked import Asked, headline, lost_in_gap, z
from jetcron.projections.fanout import Member, tallied
from jetcron.projections.fates import Fire
from jetcron.projections.fire_story import (
    IN_FLIGHT,
    Backfill,
    Sentence,
    created_again,
    creations,
    just_after,
    story,
)
from jetcron.projections.lifecycle import Evidence, Period, Window, period_at
from jetcron.projections.runs import RunRow


class Story(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What `why` answers: the fire it tells of (if any), its fate and the sentences."""

    fire_time: datetime | None
    fate: str
    """The fire's fate; NOT_A_FIRE when the time asked is none of the schedule's fire times."""
    sentences: list[Sentence]


NOT_A_FIRE = "not_a_fire"
"""The fate of a time that is no fire time of the spec then (the CLI's `why` exits 2)."""


def not_a_fire(asked: datetime, window: Window) -> list[Sentence]:
    """Why `asked` is no fire time, and the fires on either side of it."""
    before, after = previous_fire_within(window, asked), next_fire_within(window, asked)
    nearest = [f"{headline(f, window.tz)}" for f in (before, after) if f is not None]
    text = (
        f"{local(asked, window.tz)} on {asked.astimezone(pytz.timezone(window.tz)).date()} "
        f"is not a fire time of {window.spec!r} in {window.tz}"
    )
    text += f"; the nearest are {' and '.join(nearest)}" if nearest else "; it has no fires"
    return [Sentence(text=text)]


def is_unsuccessful(fire: Fire) -> bool:
    """A fire that happened and did not (or not yet) end in success; in-flight ones are not,
    nor one from when no schedule of the name existed (no fire of it)."""
    if fire.fate in ("upcoming", "pending", "not_created", "deleted"):
        return False
    return fire.fate != "triggered" or fire.status not in ({"succeeded"} | IN_FLIGHT)


def explain(
    fires: Sequence[Fire],
    periods: Sequence[Period],
    *,
    asked: Asked | None,
    since: datetime,
    backfills: Mapping[datetime, Sequence[Backfill]] | None = None,
) -> Story:
    """The story of the fire at `asked` (or of the latest fire since `since` that did not
    succeed), or why `asked` is no fire time at all (not one of the spec's, or the schedule
    did not exist then: not created yet, or deleted). `backfills`: each backfilled fire's
    backfill runs, oldest first."""
    notes = [] if asked is None else [Sentence(text=n) for n in asked.notes]
    if asked is None:
        if periods and periods[-1].state == "deleted":
            return _gone(periods, len(periods) - 1, None)
        born = _created(periods)
        if born is not None and born > since:
            since = born  # why: the live schedule's fires, not an earlier one's of its name
        mine = [f for f in fires if f.fire_time > since]
        target = next((f for f in reversed(mine) if is_unsuccessful(f)), None)
        if target is None:
            many = f"{len(mine)} fire{'s' if len(mine) != 1 else ''}"
            text = f"Every fire since {z(since)} succeeded or is still running ({many})"
            if not mine:
                text = f"No fire of the schedule's clock since {z(since)}"
            told = [Sentence(text=text), *_still_paused(periods)]
            return Story(fire_time=None, fate="", sentences=told)
    else:
        lost = window_at(periods, asked.instant) if asked.lost else None
        if lost is not None:
            # why: a wall time a spring-forward gap swallowed names no fire of an
            # interval-like spec (as `skip` says it, asked.lost_in_gap)
            told = [Sentence(text=lost_in_gap(asked, lost))]
            return Story(fire_time=None, fate=NOT_A_FIRE, sentences=told)
        target = next((f for f in fires if f.fire_time == asked.instant), None)
        if target is None or target.fate == "deleted":
            # why: a fire time of the deleted definition or not: the schedule did not exist
            return _no_fire(periods, asked, notes)
    window = window_at(periods, target.fire_time)
    return Story(
        fire_time=target.fire_time,
        fate=target.fate,
        sentences=notes
        + story(target, window, periods, (backfills or {}).get(target.fire_time, ())),
    )


def last_manual(run: RunRow | None, members: Mapping[str, Member] | None = None) -> list[Sentence]:
    """What `why NAME` adds when no fire of the clock went wrong: the latest manual run, if
    it did not succeed (a manual run is no fire of the spec, so the fires leave it out). A
    fan-out run (`members`: its members' runs) by its members', with their tally as a clock
    fire's (newcomer19a #13: it said only `fanned out`)."""
    if run is None:
        return []
    status, said = _manual_outcome(run, members or {})
    if status in ("succeeded", "deferred") or status in IN_FLIGHT:
        return []
    at = run.triggered_at or run.fire_time
    by = f" by {run.triggered_by}" if run.triggered_by else ""
    text = f"The last manual run, {run.run_id[:8]}{by} at {z(at)}, {said}"
    ev = Evidence(seq=run.seq, at=at, actor=run.triggered_by, what="run.triggered")
    return [Sentence(text=text, evidence=ev if run.seq else None)]


def _manual_outcome(run: RunRow, members: Mapping[str, Member]) -> tuple[str, str]:
    """A manual run's status and how it is said: `failed: exit code 3`, or of a fan-out run
    its members' (no member yet: not started, in flight) and `fanned out: <their tally>`."""
    if run.status != FANNED_OUT:
        # why: a cancelled or lost run has its reason, not an error (`cancelled: too slow`,
        # as `runs show` says it: nc21b #11)
        error = (run.error or run.reason).strip().splitlines()[:1]
        return run.status, run.status.replace("_", " ") + (f": {error[0]}" if error else "")
    if not members:
        return "triggered", "fanned out"
    return fanout.summary(dict(members)).status, f"fanned out: {tallied(members)}"


def _still_paused(periods: Sequence[Period]) -> list[Sentence]:
    """That the schedule is paused now (by whom, when, why), when it is: `why NAME` of a
    schedule paused before a fire went wrong (or before its first fire) says so."""
    if not periods or periods[-1].state != "paused":
        return []
    p = periods[-1]
    ev = p.evidence
    who = f" by {ev.actor} at {z(ev.at)}" if ev is not None else ""
    why = f" ({p.reason})" if p.reason else ""
    return [Sentence(text=f"It is paused{who}{why}: it fires no more until resumed", evidence=ev)]


def _no_fire(periods: Sequence[Period], asked: Asked, notes: list[Sentence]) -> Story:
    """Why no fire is at `asked`: not one of the spec's times (the spec in force then), or
    no schedule of the name existed then (deleted; or not created yet, said after the spec's
    answer when the time is not one of the first definition's either: a mistyped time is the
    likelier mistake; but not for a name used again, whose current schedule may be the one
    meant: newcomer19c #13)."""
    at = next((i for i, p in reversed(list(enumerate(periods))) if _began(p, asked)), -1)
    state = periods[at].state if at >= 0 else None
    window = window_at(periods, asked.instant)
    if state == "deleted" or (state == "absent" and (window is None or _reused(periods))):
        gone = _gone(periods, at, asked.instant)
        return Story(fire_time=None, fate=gone.fate, sentences=notes + gone.sentences)
    if window is None:
        return Story(fire_time=None, fate="", sentences=notes)
    told = not_a_fire(asked.instant, window)
    if state == "absent":
        # why: the CLI joins these into its one error line, so the sentence reads on from it
        told += [
            msgspec.structs.replace(s, text=s.text[:1].lower() + s.text[1:])
            for s in _gone(periods, at, None).sentences
        ]
    return Story(fire_time=None, fate=NOT_A_FIRE, sentences=notes + told)


def _began(period: Period, asked: Asked) -> bool:
    """Whether the stretch began before the asked instant (as lifecycle.period_at)."""
    return period.start is None or period.start < asked.instant


def _created(periods: Sequence[Period]) -> datetime | None:
    """When the live schedule of the name was created (the latest creation)."""
    made = creations(periods)
    return made[-1].at if made else None


def _reused(periods: Sequence[Period]) -> bool:
    """Whether the name has had more than one schedule (deleted, then created again)."""
    return len(creations(periods)) > 1


def _gone(periods: Sequence[Period], at: int, asked: datetime | None) -> Story:
    """The schedule did not exist at `asked` (None: now): deleted, or not created yet."""
    p = periods[at]
    later = periods[at + 1] if at + 1 < len(periods) else None
    tz = p.window.tz if p.window is not None else "UTC"
    head = [] if asked is None else [Sentence(text=f"{headline(asked, tz)}: no fire")]
    if p.state == "absent":
        ev = later.evidence if later is not None else None
        by = f" only at {z(ev.at)} by {ev.actor}" if ev is not None else " later"
        text = f"The schedule did not exist yet: it was created{by}"
        told = head + [Sentence(text=text, evidence=ev), *created_again(periods, ev)]
        return Story(fire_time=None, fate="not_created", sentences=told)
    ev = p.evidence
    why = f" ({p.reason})" if p.reason else ""
    by = f" by {ev.actor} at {z(ev.at)}" if ev is not None else ""
    out = head + [
        Sentence(text=f"The schedule was deleted{by}{why}: it fires no more", evidence=ev)
    ]
    if later is not None and later.evidence is not None:
        again = later.evidence
        made = z(again.at) if asked is None else just_after(again.at, asked)
        text = f"A new schedule of that name was created by {again.actor} at {made}"
        out.append(Sentence(text=text, evidence=again))
    elif asked is None:
        out.append(Sentence(text="Name a time before it to hear about one of its fires"))
    return Story(fire_time=None, fate="deleted", sentences=out)


def window_at(periods: Sequence[Period], when: datetime) -> Window | None:
    """The definition in force at `when` (before creation: the first one)."""
    p = period_at(periods, when)
    return p.window if p is not None else None
