"""The `fires` and `why` answers: a schedule's nominal fires in a window, their fates, a fire's story."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import msgspec
import pytz

from jetcron.clock import iso_z
from jetcron.domain.days import bad_time
from jetcron.domain.runs import FANNED_OUT
from jetcron.errors import InvalidInput
from jetcron.projections import (
    aged,
    audit,
    fanout,
    fates,
    fire_story,
    ledger,
    lifecycle,
    refused,
    runs,
    schedules,
    why,
)
from jetcron.projections.asked import parse_asked
from jetcron.projections.limits import FIRES_MAX
from jetcron.projections.queries import _between, _missing, _note_refused, abbr, iso, plain
from jetcron.projections.state import Views

_US = timedelta(microseconds=1)


def aged_before_from(params: dict[str, Any], now: datetime) -> datetime | None:
    """Before this time the log no longer holds run history (the service's retention)."""
    retention = params.get("retention_s")
    return now - timedelta(seconds=float(retention)) if retention else None


def aged_from(
    params: dict[str, Any], now: datetime
) -> tuple[datetime | None, Callable[[int], bool]]:
    """`fates_in`'s `aged_before` and `gone`: the retention's time, and whether the log no
    longer holds a sequence (the horizon and the ones asked about, see aged.py)."""
    horizon, missing = aged.gone(params)
    return aged_before_from(params, now), partial(aged.aged, horizon=horizon, missing=missing)


def fates_in(
    views: Views,
    name: str,
    since: datetime,
    until: datetime,
    now: datetime,
    aged_before: datetime | None = None,
    gone: Callable[[int], bool] | None = None,
) -> tuple[list[lifecycle.Period], list[fates.Fire], datetime]:
    """The lifecycle of `name`, its fires in (since, until] with their fates, and the start
    of the part of the window they cover (later than `since` past FIRES_MAX nominal fires)."""
    changes = audit.query(views.audit, name=name, schedules=True)
    if not changes and schedules.get(views.schedules, name) is None:
        raise _missing(views, name)
    periods = lifecycle.lifecycle(changes)
    times, since = lifecycle.latest_nominal(periods, since, until, FIRES_MAX)
    recorded = [
        e
        for e in ledger.query(views.ledger, name, since=since, limit=FIRES_MAX)
        if since < e.fire_time <= until
    ]
    missed = [e.fire_time for e in recorded if e.outcome == "missed"]
    quiet = ledger.last_recorded_before(views.ledger, missed)
    kept_from = ledger.kept_from(views.ledger, name)
    if aged_before is not None and (kept_from is None or aged_before > kept_from):
        kept_from = aged_before  # why: a fire whose events expired is forgotten, not a bug
    told = fates.fates(
        times, recorded, periods, now=now, quiet_since=quiet, kept_from=kept_from, gone=gone
    )
    return periods, _planned_skips(told, schedules.get(views.schedules, name), changes), since


def _planned_skips(
    told: list[fates.Fire], row: schedules.ScheduleRow | None, changes: list[audit.AuditEntry]
) -> list[fates.Fire]:
    """Upcoming fires an operator skipped (`schedule skip`) carry who skipped them as their
    reason, with the skip's event as evidence.

    why: `schedules.skipped` is the one rule `schedule next` says "skipped by" by; `why`
    said "Not due yet" of a fire that will not run (nc21b #2)."""
    if row is None or not row.skips:
        return told
    out = []
    for fire in told:
        said = schedules.skipped(row, fire.fire_time) if fire.fate == "upcoming" else None
        if said:
            fire = msgspec.structs.replace(
                fire, reason=said, evidence=_skip_evidence(fire, changes)
            )
        out.append(fire)
    return out


def _skip_evidence(fire: fates.Fire, changes: list[audit.AuditEntry]) -> list[lifecycle.Evidence]:
    """The latest `schedule skip` of this fire (its audit entry), as evidence."""
    when = iso_z(fire.fire_time)
    planned = [e for e in changes if e.diff.get("skip") == [None, when]]
    return [
        lifecycle.Evidence(seq=e.seq, at=e.at, actor=e.actor, what=e.type) for e in planned[-1:]
    ]


def fires_window(
    views: Views, params: dict[str, Any], now: datetime, back: timedelta
) -> tuple[datetime, datetime]:
    """(since, until) of a fires answer: the given ones, else `back` before now (or until),
    from the creation if that is later."""
    since, given = _between(params, now, now)
    until = given or now
    if since is not None:
        return since, until
    # why: by default, no screenful of fires from before the schedule existed; a --since
    # that reaches back shows them (as not_created)
    name = str(params.get("name", ""))
    born = next((e.at for e in audit.query(views.audit, name=name, schedules=True)), None)
    since = until - back if born is None else max(until - back, min(born, until - _US))
    return since, until


def fires_of(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Every nominal fire of one schedule in a window and its fate (default: the last day,
    from the schedule's creation if that is later)."""
    name = str(params.get("name", ""))
    since, until = fires_window(views, params, now, timedelta(days=1))
    # why: a --since is inclusive everywhere (a fire at exactly that time is shown); the
    # window of fates_in is (since, until]
    start = since - _US if params.get("since") else since
    periods, told, covered = fates_in(views, name, start, until, now, *aged_from(params, now))
    limit = max(1, min(int(params.get("limit", 100)), FIRES_MAX))
    runs = _collapsed(told)
    shown = runs[-limit:]
    answer = {
        "schedule": name,
        "since": iso(since),
        "until": iso(until),
        "fires": [_fire_row(f, periods) | _summary(n, last) for f, n, last in shown],
        "more": covered > start or len(runs) > limit,
        "expectations": expectations_of(views, name),
    }
    _note_refused(views, name, answer)
    return answer


COLLAPSED = frozenset({"not_created", "deleted"})
"""Fates of fires when no schedule of the name existed: consecutive ones are one entry."""


def _collapsed(
    told: list[fates.Fire],
) -> list[tuple[fates.Fire, int, fates.Fire]]:
    """(first, count, last) per entry: consecutive `not_created` (or `deleted`) fires as one
    entry, others alone.

    why: a `--since 1h` on a minutely schedule created a minute ago listed 58 `not_created`
    rows before its 2 real ones (newcomer18b F12); the time before it existed is one line,
    and so is the time between a deletion and the name's next creation."""
    out: list[tuple[fates.Fire, int, fates.Fire]] = []
    for fire in told:
        if out and fire.fate in COLLAPSED and out[-1][0].fate == fire.fate:
            out[-1] = (out[-1][0], out[-1][1] + 1, fire)
        else:
            out.append((fire, 1, fire))
    return out


def _summary(count: int, last: fates.Fire) -> dict[str, Any]:
    """What a summarised entry adds: how many fires it stands for, the last one's time."""
    return {} if count == 1 else {"count": count, "last_utc": iso(last.fire_time)}


def expectations_of(views: Views, name: str) -> list[dict[str, Any]]:
    """The schedule's expectations missed and not yet met, with the event that said so."""
    row = schedules.get(views.schedules, name)
    if row is None:
        return []
    return [{"kind": kind, **plain(miss)} for kind, miss in sorted(row.expectations.items())]


def _fire_row(fire: fates.Fire, periods: list[lifecycle.Period]) -> dict[str, Any]:
    data: dict[str, Any] = plain(fire)
    window = why.window_at(periods, fire.fire_time)
    tz = window.tz if window is not None else "UTC"
    data["utc"] = iso(fire.fire_time)
    data["local"] = fire.fire_time.astimezone(pytz.timezone(tz)).isoformat()
    data["tz"] = tz
    data["abbr"] = abbr(fire.fire_time, tz)
    data["dst"] = fire_story.dst_notes(fire.fire_time, window) if window is not None else []
    if fire.fate != "deleted" and lifecycle.earlier_schedule(periods, fire.fire_time) is not None:
        data["previous"] = True  # why: as run_dict marks a reused name's earlier runs
    return data


def why_of(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The story of one fire (default: the latest of the last week that did not succeed)."""
    name = str(params.get("name", ""))
    changes = audit.query(views.audit, name=name, schedules=True)
    window = why.window_at(lifecycle.lifecycle(changes), now) if changes else None
    # why: the zone a TIME without one is read in; answered as `tz`, for the CLI's note
    tz = window.tz if window else "UTC"
    asked = None
    if params.get("time"):
        try:
            asked = parse_asked(
                str(params["time"]),
                tz,
                now,
                window.spec if window else None,
            )
        except ValueError as err:
            raise InvalidInput(bad_time(str(params["time"]), "use ISO-8601 or HH:MM")) from err
        # why: the fire itself, and around it what its story needs (the catch-up trigger
        # recorded with a miss); narrow, so a dense spec stays far below FIRES_MAX
        since, until = asked.instant - timedelta(hours=1), asked.instant + timedelta(hours=1)
    else:
        since, until = now - timedelta(days=7), now
    periods, told, since = fates_in(views, name, since, until, now, *aged_from(params, now))
    redone = backfills_of(views, name, [f for f in told if f.backfills > 1])
    story = why.explain(told, periods, asked=asked, since=since, backfills=redone)
    if asked is None and story.fire_time is None and story.fate == "":
        story.sentences.extend(_manual_story(views, name))
    if story.fate == "not_created" and views.schedules.forgotten:
        # why: an earlier schedule of this name may be one the views forgot (forget.py)
        text = (
            f"The views no longer hold {views.schedules.forgotten} deleted schedule(s): an "
            "earlier one of this name may have existed then (the log keeps its definitions)"
        )
        story.sentences.append(fire_story.Sentence(text=text))
    if (found := refused.of(views.refused, name)) is not None:
        story.sentences.insert(
            0, fire_story.Sentence(text=refused.explain(name, found, exists=True))
        )
    answer = {
        "schedule": name,
        "tz": tz,
        **plain(story),
        "expectations": expectations_of(views, name),
    }
    live = schedules.get(views.schedules, name)
    if story.fate == "upcoming" and story.fire_time is not None and live is not None:
        if skipped := schedules.skipped(live, story.fire_time):
            answer["skipped"] = skipped  # why: as `schedule next --json` marks it
    return answer


def backfills_of(
    views: Views, name: str, fires: list[fates.Fire]
) -> dict[datetime, list[fire_story.Backfill]]:
    """Each of these fires' backfill runs, oldest first, with the reason each was sent with
    (its audit entry: `schedule backfill --reason`)."""
    if not fires:
        return {}
    wanted = {f.fire_time for f in fires}
    since = min(wanted) - _US
    entries = ledger.query(views.ledger, name, since=since, limit=FIRES_MAX)
    sent = [e for e in entries if e.backfill_of and e.fire_time in wanted]
    reasons = {e.run_id: e.reason for e in audit.query(views.audit, name=name) if e.run_id}
    out: dict[datetime, list[fire_story.Backfill]] = {}
    for e in sorted(sent, key=lambda e: e.seq):
        ev = lifecycle.Evidence(seq=e.seq, at=e.recorded_at, actor=e.actor, what="run.triggered")
        told = fire_story.Backfill(
            run_id=e.run_id, status=e.status, detail=e.detail, reason=reasons.get(e.run_id, ""),
            evidence=ev,
        )  # fmt: skip
        out.setdefault(e.fire_time, []).append(told)
    return out


def _manual_story(views: Views, name: str) -> list[fire_story.Sentence]:
    """What `why NAME` says of the live schedule's latest manual run (a fan-out one: by its
    members' runs)."""
    manual = _last_manual(views, name)
    if manual is None or manual.status != FANNED_OUT:
        return why.last_manual(manual)
    members = fanout.members_of(fanout.of_rows(views.runs, name, manual.run_id))
    return why.last_manual(manual, members)


def _last_manual(views: Views, name: str) -> runs.RunRow | None:
    """The live schedule's latest manual run (none: no live schedule or no such run)."""
    live = schedules.get(views.schedules, name)
    if live is None:
        return None
    rows = (views.runs.rows[k] for k in views.runs.by_schedule.get(name, ()))
    manual = [r for r in rows if r.manual and r.schedule_id == live.schedule_id]
    return max(manual, key=lambda r: r.triggered_at or r.fire_time, default=None)
