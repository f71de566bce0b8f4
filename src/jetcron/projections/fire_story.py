"""The sentences that tell what became of one fire, by its fate (`why`'s story); pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from jetcron.domain.calendar import DELIBERATE
from jetcron.domain.definition import LATE_DOWN, MISSED_AFTER, gap_story, late_kind
from jetcron.domain.dst import dst_notes as _dst_notes
from jetcron.domain.durations import format_duration
from jetcron.projections.asked import fire_z, headline, z
from jetcron.projections.fates import Fire
from jetcron.projections.lifecycle import Evidence, Period, Window, earlier_schedule, resumed_after


def dst_notes(when: datetime, window: Window) -> list[str]:
    """What DST did to a fire of this window at `when` (see domain.dst)."""
    return _dst_notes(when, window.spec, window.tz)


IN_FLIGHT = frozenset({"triggered", "running", "retrying"})


class Sentence(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """One statement, and the event it comes from (None: it follows from the spec alone)."""

    text: str
    evidence: Evidence | None = None


class Backfill(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One backfill run of a fire (`schedule backfill`): who sent it and why, and its end."""

    run_id: str
    status: str
    detail: str = ""
    reason: str = ""
    evidence: Evidence
    """Its run.triggered."""


def story(
    fire: Fire,
    window: Window | None,
    periods: Sequence[Period],
    backfills: Sequence[Backfill] = (),
) -> list[Sentence]:
    """The sentences that tell what became of one fire (`backfills`: every backfill run of it,
    oldest first, the last one the fire's own run)."""
    tz = window.tz if window is not None else "UTC"
    fate = fire.fate.replace("_", " ")
    if fire.fate == "triggered" and fire.status:
        fate += f" → {fire.status.replace('_', ' ')}"
    elif fire.fate == "upcoming" and fire.reason:
        fate += ", will be skipped"
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
    if fire.backfill_of and fire.fate in _RUN_FATES:
        return out + _triggered(fire, periods, backfills)
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


def _triggered(
    fire: Fire, periods: Sequence[Period], backfills: Sequence[Backfill] = ()
) -> list[Sentence]:
    trig = _ev(fire, "run.triggered")
    at = f" at {z(trig.at)}" if trig is not None else ""
    before: list[Sentence] = []
    if fire.backfill_of:
        # why: a backfill runs long after its fire time on purpose: no lateness to report
        by = f" by {trig.actor}" if trig is not None else ""
        last = backfills[-1] if backfills and backfills[-1].run_id == fire.run_id else None
        said = f" ({last.reason})" if last is not None and last.reason else ""
        text = f"Backfilled{by} as run {fire.run_id[:8]}{at}{said}"
        before = [_backfill(b) for b in backfills if b.run_id != fire.run_id]
    elif fire.fanout:
        text = (
            f"Fanned out as run {fire.run_id[:8]}{at}{_late(fire)}; each member runs it as its own"
        )
    else:
        text = f"Triggered as run {fire.run_id[:8]}{at}{_late(fire)}"
    out = [*_waited(fire), *_first(fire), *before, Sentence(text=text, evidence=trig)]
    return out + _outcome(fire)


def _backfill(b: Backfill) -> Sentence:
    """An earlier backfill run of a fire backfilled again: who, when, why, and its end.

    why: `fires` counted `(2 backfills)` while `why` told only the last (nc21b #4)."""
    ev = b.evidence
    why = f" ({b.reason})" if b.reason else ""
    status = b.status.replace("_", " ")
    detail = f": {b.detail}" if b.detail and status != "succeeded" else ""
    text = f"Backfilled by {ev.actor} as run {b.run_id[:8]} at {z(ev.at)}{why}: {status}{detail}"
    return Sentence(text=text, evidence=ev)


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
        return Sentence(text="No member has started it yet")
    told = fire.tally or fire.status.replace("_", " ")
    return Sentence(text=f"Its members' runs on {fire.executor}: {told}", evidence=ev)


def _missed(fire: Fire, periods: Sequence[Period]) -> list[Sentence]:
    rec = _ev(fire, "fire.missed")
    found = z(rec.at) if rec is not None else "later"
    kind = late_kind(fire.reason)
    if kind not in ("", LATE_DOWN) and fire.reason[len(kind) :].startswith((" from ", " since ")):
        # why: a reason since session 21 names its own outage's times ('log full from A to B');
        # a second start beside them read as a second outage (newcomer21c #2)
        text = f"{gap_story(fire.reason)}; the ticker recorded it at {found}: {fire.reason}"
    else:
        since = f"from {z(fire.quiet_since)} " if fire.quiet_since is not None else ""
        text = f"{gap_story(fire.reason)} {since}to {found}, when the ticker recorded it: {fire.reason}"  # fmt: skip
    if fire.buffered_at is not None:
        # why: the ticker did tick at its fire time (it buffered it): the gap came later
        text = f"It still waited at {found}, when the ticker recorded it: {fire.reason}"
    out = [*_waited(fire), Sentence(text=text, evidence=rec)]
    if fire.instead is not None:
        out.append(
            Sentence(text=f"Catch-up `{fire.catchup}` ran the {fire_z(fire.instead)} fire instead")
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
    return [told, *created_again(periods, ev)]


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
    if not fire.reason:
        return [Sentence(text="Not due yet")]
    # why: fire_queries sets the reason of a coming fire an operator skipped ('skipped by
    # alice: maintenance'), as `schedule next` says it
    ev = fire.evidence[0] if fire.evidence else None
    who, _, why = fire.reason.partition(": ")
    at = f" at {z(ev.at)}" if ev is not None else ""
    text = f"Not due yet, and it will be skipped: {who}{at}" + (f" ({why})" if why else "")
    return [Sentence(text=text, evidence=ev)]


_RUN_FATES = frozenset({"triggered", "lost", "cancelled", "deferred"})
"""Fates whose story is the fire's run (_triggered)."""
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


def creations(periods: Sequence[Period]) -> list[Evidence]:
    """The name's creations, oldest first (one per schedule of the name)."""
    return [
        p.evidence
        for p in periods
        if p.evidence is not None and p.evidence.what == "schedule.created"
    ]


def created_again(periods: Sequence[Period], first: Evidence | None) -> list[Sentence]:
    """Of a time before the name's first schedule (created by `first`): that the name's
    latest schedule is another one, when it is."""
    latest = creations(periods)[-1:]
    if first is None or not latest or latest[0] == first:
        return []
    again = latest[0]
    text = f"It was deleted since; the name's latest was created by {again.actor} at "
    return [Sentence(text=text + z(again.at), evidence=again)]
