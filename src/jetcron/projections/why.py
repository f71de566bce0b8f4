"""`jetcron why`: the story of one fire in plain sentences, each resting on a stored event; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import pytz

from jetcron.domain.calendar import DELIBERATE
from jetcron.domain.definition import MISSED_AFTER, gap_story
from jetcron.domain.dst import dst_notes as _dst_notes
from jetcron.domain.dst import local
from jetcron.domain.durations import format_duration
from jetcron.domain.fires import next_fire_within, previous_fire_within
from jetcron.domain.runs import FANNED_OUT
from jetcron.projections import fanout
from jetcron.projections.asked import Asked, headline, z
from jetcron.projections.fanout import Member, tallied
from jetcron.projections.fates import (
    Evidence,
    Fire,
    Period,
    Window,
    earlier_schedule,
    period_at,
    resumed_after,
)
from jetcron.projections.runs import RunRow


def dst_notes(when: datetime, window: Window) -> list[str]:
    """What DST did to a fire of this window at `when` (see domain.dst)."""
    return _dst_notes(when, window.spec, window.tz)


IN_FLIGHT = frozenset({"triggered", "running", "retrying"})


class Sentence(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """One statement, and the event it comes from (None: it follows from the spec alone)."""

    text: str
    evidence: Evidence | None = None


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


def story(fire: Fire, window: Window | None, periods: Sequence[Period]) -> list[Sentence]:
    """The sentences that tell what became of one fire."""
    tz = window.tz if window is not None else "UTC"
    fate = fire.fate.replace("_", " ")
    if fire.fate == "triggered" and fire.status:
        fate += f" → {fire.status.replace('_', ' ')}"
    out = [Sentence(text=f"{headline(fire.fire_time, tz)}: {fate}")]
    if (again := earlier_schedule(periods, fire.fire_time)) is not None and again.evidence:
        ev = again.evidence
        text = (
            "(previous) A fire of an earlier schedule of this name: it was deleted, and "
            f"{ev.actor} created the name again at {z(ev.at)}"
        )
        out.append(Sentence(text=text, evidence=ev))
    if window is not None:
        out += [Sentence(text=n) for n in dst_notes(fire.fire_time, window)]
    out += _TELLERS[fire.fate](fire, periods)
    return out


def _ev(fire: Fire, what_prefix: str) -> Evidence | None:
    return next((e for e in fire.evidence if e.what.startswith(what_prefix)), None)


def _late(fire: Fire) -> str:
    late = fire.late_s or 0.0
    if late <= MISSED_AFTER.total_seconds():
        return ""
    took = format_duration(timedelta(seconds=round(late)))
    if fire.late_cause == "waited":  # why: fates.late_cause, the rule `fires` labels by too
        return f", {took} late: it waited for the run before it"
    return f", {took} late: no scheduler decided it in time, and catch-up `{fire.catchup}` ran it"


def _triggered(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    trig = _ev(fire, "run.triggered")
    at = f" at {z(trig.at)}" if trig is not None else ""
    if fire.backfill_of:
        # why: a backfill runs long after its fire time on purpose: no lateness to report
        by = f" by {trig.actor}" if trig is not None else ""
        text = f"Backfilled{by} as run {fire.run_id[:8]}{at}"
    elif fire.fanout:
        text = (
            f"Fanned out as run {fire.run_id[:8]}{at}{_late(fire)}; each member runs it as its own"
        )
    else:
        text = f"Triggered as run {fire.run_id[:8]}{at}{_late(fire)}"
    out = [*_waited(fire), *_first(fire), Sentence(text=text, evidence=trig)]
    return out + _outcome(fire)


def _waited(fire: Fire) -> list[Sentence]:
    """A fire that waited in the buffer before its fate (run, or missed after an outage)."""
    if fire.buffered_at is None:
        return []
    text = f"Buffered at {z(fire.buffered_at)} behind run {fire.blocking_run_id[:8]}"
    return [Sentence(text=text)]


def _first(fire: Fire) -> list[Sentence]:
    """A backfilled fire's own first fate (the run the clock triggered, a miss, a skip)."""
    ev = fire.first_evidence
    if not fire.backfill_of or ev is None:
        return []
    said = fire.first_status.replace("_", " ")
    detail = f": {fire.first_detail}" if fire.first_detail else ""
    if fire.first_run_id:
        text = f"First triggered as run {fire.first_run_id[:8]} at {z(ev.at)}: {said}{detail}"
    else:
        text = f"First {said} at {z(ev.at)}{detail}"
    return [Sentence(text=text, evidence=ev)]


def _outcome(fire: Fire) -> list[Sentence]:
    run, on = fire.run_id[:8], f" on {fire.executor}" if fire.executor else ""
    tries = f"{fire.attempt} attempts" if fire.attempt > 1 else "1 attempt"
    ev = next((e for e in reversed(fire.evidence) if not e.what.startswith("run.trig")), None)
    status = fire.status.replace("_", " ")
    if fire.fanout:
        return [_members(fire, ev)]
    if fire.status in IN_FLIGHT:
        return [
            Sentence(
                text=f"Run {run} is {status}{on} (attempt {max(fire.attempt, 1)})", evidence=ev
            )
        ]
    detail = f": {fire.detail}" if fire.detail else ""
    return [Sentence(text=f"Run {run} {status}{on} after {tries}{detail}", evidence=ev)]


def _members(fire: Fire, ev: Evidence | None) -> Sentence:
    """What the members of a fan-out fire made of it: their tally (fanout.tallied)."""
    if not fire.executor:
        detail = f": {fire.detail}" if fire.detail else ""  # why: e.g. the schedule deleted
        return Sentence(text=f"No member has started it{detail}", evidence=ev if detail else None)
    told = fire.tally or fire.status.replace("_", " ")
    return Sentence(text=f"Its members' runs on {fire.executor}: {told}", evidence=ev)


def _missed(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    rec = _ev(fire, "fire.missed")
    found = z(rec.at) if rec is not None else "later"
    since = f"from {z(fire.quiet_since)} " if fire.quiet_since is not None else ""
    text = f"{gap_story(fire.reason)} {since}to {found}, when the ticker recorded it: {fire.reason}"
    if fire.buffered_at is not None:
        # why: the ticker did tick at its fire time (it buffered it): the gap came later
        text = f"It still waited at {found}, when the ticker recorded it: {fire.reason}"
    out = [*_waited(fire), Sentence(text=text, evidence=rec)]
    if fire.instead is not None:
        out.append(
            Sentence(text=f"Catch-up `{fire.catchup}` ran the {z(fire.instead)} fire instead")
        )
    return out


def _skipped(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    blocking = f" (run {fire.blocking_run_id[:8]})" if fire.blocking_run_id else ""
    # why: an operator's skip or a calendar already says so: 'skipped by alice: holiday',
    # 'excluded by maint (window 0 2 * * sun for 4h)', 'outside office (only within)'
    told = fire.reason.startswith(DELIBERATE)
    said = fire.reason[:1].upper() + fire.reason[1:] if told else ""
    text = said or f"Skipped: {fire.reason}{blocking}"
    return [Sentence(text=text, evidence=_ev(fire, "fire."))]


def _buffered(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    text = f"Buffered behind run {fire.blocking_run_id[:8]}: it starts when that run ends"
    return [Sentence(text=text, evidence=_ev(fire, "fire.buffered"))]


def _run_ended(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    return _triggered(fire, periods)


def _paused(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    ev = fire.evidence[0] if fire.evidence else None
    who = f" by {ev.actor} at {z(ev.at)}" if ev is not None else ""
    why = f" ({fire.reason})" if fire.reason else ""
    out = [Sentence(text=f"Not fired: the schedule was paused{who}{why}", evidence=ev)]
    back = resumed_after(periods, fire.fire_time)
    if back is None:
        out.append(Sentence(text="It is still paused"))
    else:
        verb = back.what.removeprefix("schedule.")
        text = f"It was {verb} by {back.actor} at {z(back.at)}; fires in between are not run"
        out.append(Sentence(text=text, evidence=back))
    return out


def just_after(when: datetime, fire: datetime) -> str:
    """`when` as z() does, but to the hundredth, saying so, when it falls in the second of
    `fire` (a schedule created at 20:43:30.4 has no fire at 20:43:30: to the second, the
    two read as one time)."""
    if when.replace(microsecond=0) != fire.replace(microsecond=0) or when <= fire:
        return z(when)
    return f"{when.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}"[:-4] + "Z, just after this fire time"


def _not_created(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    ev = fire.evidence[0] if fire.evidence else None
    made = just_after(ev.at, fire.fire_time) if ev is not None else ""
    when = f" only at {made} by {ev.actor}" if ev is not None else " later"
    told = Sentence(text=f"Not fired: the schedule was created{when}", evidence=ev)
    return [told, *_created_again(periods, ev)]


def _unrecorded(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    ev = fire.evidence[0] if fire.evidence else None
    text = (
        "Nothing was recorded for this fire although the schedule was active: the ticker "
        "owes the log an event for every fire, so this is a jetcron bug; please report it"
    )
    return [Sentence(text=text, evidence=ev)]


def _forgotten(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    text = (
        "Older than the run history jetcron keeps (`serve --keep-runs`, `--retention`): "
        "its day's statistics still count it (`jetcron stats`)"
    )
    return [Sentence(text=text)]


def _pending(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    # why: not "moments ago": the grace is 2 minutes (plus jitter), a minute-old fire is pending
    return [
        Sentence(text="Due; the ticker has not recorded it yet (it may take up to 2m, plus jitter)")
    ]


def _upcoming(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    return [Sentence(text="Not due yet")]


_TELLERS = {
    "triggered": _triggered,
    "lost": _run_ended,
    "cancelled": _run_ended,
    "deferred": _run_ended,
    "missed": _missed,
    "skipped": _skipped,
    "buffered": _buffered,
    "paused": _paused,
    "not_created": _not_created,
    "unrecorded": _unrecorded,
    "forgotten": _forgotten,
    "pending": _pending,
    "upcoming": _upcoming,
}


def explain(
    fires: Sequence[Fire], periods: Sequence[Period], *, asked: Asked | None, since: datetime
) -> Story:
    """The story of the fire at `asked` (or of the latest fire since `since` that did not
    succeed), or why `asked` is no fire time at all (not one of the spec's, or the schedule
    did not exist then: not created yet, or deleted)."""
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
            text = f"Every fire since {z(since)} succeeded or is still running ({len(mine)} fires)"
            if not mine:
                text = f"No fire of the schedule's clock since {z(since)}"
            told = [Sentence(text=text), *_still_paused(periods)]
            return Story(fire_time=None, fate="", sentences=told)
    else:
        target = next((f for f in fires if f.fire_time == asked.instant), None)
        if target is None or target.fate == "deleted":
            # why: a fire time of the deleted definition or not: the schedule did not exist
            return _no_fire(periods, asked, notes)
    window = window_at(periods, target.fire_time)
    return Story(
        fire_time=target.fire_time,
        fate=target.fate,
        sentences=notes + story(target, window, periods),
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
        error = run.error.strip().splitlines()[:1]
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
    """Whether the stretch began before the asked instant (as fates.period_at)."""
    return period.start is None or period.start < asked.instant


def _creations(periods: Sequence[Period]) -> list[Evidence]:
    """The name's creations, oldest first (one per schedule of the name)."""
    return [
        p.evidence
        for p in periods
        if p.evidence is not None and p.evidence.what == "schedule.created"
    ]


def _created(periods: Sequence[Period]) -> datetime | None:
    """When the live schedule of the name was created (the latest creation)."""
    made = _creations(periods)
    return made[-1].at if made else None


def _created_again(periods: Sequence[Period], first: Evidence | None) -> list[Sentence]:
    """Of a time before the name's first schedule (created by `first`): that the name's
    latest schedule is another one, when it is."""
    latest = _creations(periods)[-1:]
    if first is None or not latest or latest[0] == first:
        return []
    again = latest[0]
    text = f"It was deleted since; the name's latest was created by {again.actor} at "
    return [Sentence(text=text + z(again.at), evidence=again)]


def _reused(periods: Sequence[Period]) -> bool:
    """Whether the name has had more than one schedule (deleted, then created again)."""
    return len(_creations(periods)) > 1


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
        told = head + [Sentence(text=text, evidence=ev), *_created_again(periods, ev)]
        return Story(fire_time=None, fate="not_created", sentences=told)
    ev = p.evidence
    why = f" ({p.reason})" if p.reason else ""
    by = f" by {ev.actor} at {z(ev.at)}" if ev is not None else ""
    out = head + [
        Sentence(text=f"The schedule was deleted{by}{why}: it fires no more", evidence=ev)
    ]
    if later is not None and later.evidence is not None:
        again = later.evidence
        text = f"A new schedule of that name was created by {again.actor} at {z(again.at)}"
        out.append(Sentence(text=text, evidence=again))
    elif asked is None:
        out.append(Sentence(text="Name a time before it to hear about one of its fires"))
    return Story(fire_time=None, fate="deleted", sentences=out)


def window_at(periods: Sequence[Period], when: datetime) -> Window | None:
    """The definition in force at `when` (before creation: the first one)."""
    p = period_at(periods, when)
    return p.window if p is not None else None
