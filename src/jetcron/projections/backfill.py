"""Backfill: which past fires to run again (the plan) and how its runs may meet others; pure.

The plan is the `fires` answer for [from, to]: every nominal fire with its fate. A fire is
backfilled when it should have run and did not succeed (missed, unrecorded, lost, cancelled,
skipped for overlap, failed or timed out). Left alone: fires that succeeded (unless rerun),
runs still in flight, fires an operator skipped or a calendar excluded (backfill runs the
fires we missed, not the ones we meant not to have), fires while paused or while no
schedule of the name existed (before it, or after a deletion), and forgotten ones (their fate is gone from the views).

Overlap, as the schedule's policy says for its own fires (default: the schedule's policy):
- `allow`: up to max-parallel backfill runs at once, whatever else of the schedule runs;
- `skip`: one run of the schedule at a time: backfill runs go one after another, and a fire
  whose turn comes while another run of the schedule (the ticker's, a manual one) is in
  flight is skipped and reported (a later backfill of the range picks it up);
- `queue`: one at a time too, but such a fire waits for the other run to end.
A schedule's `buffer_one` and `cancel_previous` backfill as `queue`: a backfill never
cancels a run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

import pytz

from jetcron.domain.calendar import DELIBERATE
from jetcron.domain.errors import ScheduleNotFound
from jetcron.domain.runs import IN_FLIGHT
from jetcron.errors import InvalidInput
from jetcron.projections import schedules
from jetcron.projections.asked import is_clock, parse_asked
from jetcron.projections.fire_queries import fires_of
from jetcron.projections.limits import FIRES_MAX
from jetcron.projections.queries import _since, iso
from jetcron.projections.state import Views

Overlap = Literal["allow", "skip", "queue"]
OVERLAPS: tuple[str, ...] = get_args(Overlap)
OVERLAP_OF_SCHEDULE: dict[str, Overlap] = {
    "allow": "allow",
    "skip": "skip",
    "buffer_one": "queue",
    "cancel_previous": "queue",
}
"""The backfill overlap a schedule's own overlap policy stands for."""
MAX_PARALLEL = 2
"""Backfill runs in flight at once with `allow`, unless told."""
MOST_PARALLEL = 100
"""The most backfill runs in flight at once one may ask for."""
MOST_WITHOUT_YES = 1_000
"""A plan with more fires than this needs a yes (a typo in `from` must not flood executors)."""
LEFT: dict[str, str] = {
    "upcoming": "not due yet",
    "pending": "the ticker may still be on it",
    "buffered": "waiting behind a run",
    "paused": "the schedule was paused",
    "not_created": "the schedule did not exist yet",
    "deleted": "the schedule was deleted then",
    "forgotten": "older than the run history kept",
}


def verdict(row: dict[str, Any], rerun: bool) -> str:
    """'' if the fire (a `fires` row) is to be backfilled, else why it is left alone."""
    fate, status = row["fate"], row.get("status", "")
    if fate in LEFT:
        return LEFT[fate]
    if fate == "skipped" and str(row.get("reason", "")).startswith(DELIBERATE):
        return str(row["reason"])
    if fate in ("triggered", "deferred") and status in IN_FLIGHT:
        return f"its run is {status}"
    if status == "succeeded" and not rerun:
        return "succeeded (--rerun runs it again)"
    return ""


def plan(
    rows: list[dict[str, Any]], rerun: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(to run, left alone) of the fires rows; each with `utc`, `fate`, and `rerun` (the
    backfills the fire already had) or `why`."""
    todo, left = [], []
    for r in rows:
        why = verdict(r, rerun)
        base = {"utc": r["utc"], "fate": r["fate"], "status": r.get("status", "")}
        if why:
            left.append({**base, "why": why})
        else:
            todo.append({**base, "rerun": int(r.get("backfills", 0))})
    return todo, left


def range_of(
    frm: datetime,
    to: datetime,
    now: datetime,
    names: tuple[str, str] = ("--from", "--to"),
    read: str = "",
) -> tuple[datetime, datetime]:
    """[from, to] checked; InvalidInput (naming the options) if reversed or reaching into the
    future (`read`: how HH:MM times were read, said after a reversed range)."""
    if frm > to:
        raise InvalidInput(f"{names[0]} {iso(frm)} is after {names[1]} {iso(to)}{read}")
    if to > now:
        raise InvalidInput(f"{names[1]} {iso(to)} is in the future: backfill runs past fires only")
    return frm, to


def overlap_of(given: str | None, schedule_policy: str) -> Overlap:
    """The overlap asked for, else the one the schedule's own policy stands for."""
    if given is None or given == "":
        return OVERLAP_OF_SCHEDULE.get(schedule_policy, "skip")
    if given not in OVERLAPS:
        raise InvalidInput(f"--overlap {given!r}: use one of {', '.join(OVERLAPS)}")
    return given  # type: ignore[return-value]


def parallel(overlap: Overlap, max_parallel: int | None) -> int:
    """Backfill runs in flight at once: `max_parallel` with allow, one otherwise."""
    if max_parallel is not None and not 1 <= max_parallel <= MOST_PARALLEL:
        raise InvalidInput(f"--max-parallel must be from 1 to {MOST_PARALLEL}, not {max_parallel}")
    if overlap == "allow":
        return MAX_PARALLEL if max_parallel is None else max_parallel
    if max_parallel is not None and max_parallel > 1:
        raise InvalidInput(
            f"--max-parallel {max_parallel} goes with --overlap allow: with {overlap} the "
            "schedule runs one run at a time"
        )
    return 1


def _instant(params: dict[str, Any], key: str, tz: str, now: datetime, name: str) -> datetime:
    """A fire time as backfill takes it: like `why TIME` and `skip TIME` in the schedule's zone
    (exact with an offset or `Z`, a naive time as wall time there, `HH:MM` the latest such
    wall time), or a duration back from now (`2h`)."""
    text = str(params.get(key) or "").strip()
    if not text:
        raise InvalidInput(f"give {name} (an ISO-8601 time)")
    try:
        return parse_asked(text, tz, now).instant
    except ValueError:
        pass
    try:
        when = _since(params, now, key)  # why: the one parser of durations back from now
    except InvalidInput as err:
        raise InvalidInput(f"{name}: {err}") from None
    assert when is not None  # why: the text is not empty
    return when


def backfill_plan(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The `backfill` query: the plan for [from, to] (ISO, both included) of schedule `name`,
    with the overlap it would use (params: rerun, overlap, max_parallel)."""
    name = str(params.get("name", ""))
    row = schedules.get(views.schedules, name)
    if row is None:
        raise ScheduleNotFound(name)
    overlap = overlap_of(params.get("overlap"), row.definition.overlap)
    most = parallel(overlap, params.get("max_parallel"))
    tz = row.definition.tz
    names = _spelled(params)
    given = {k: _instant(params, k, tz, now, n) for k, n in zip(("from", "to"), names, strict=True)}
    days = _clock_days(params, given, names, tz, now)
    read = "; ".join(f"{name} {text} as {day}" for name, text, day in days)
    hint = f" (HH:MM is the latest such time: {read}; give full dates)" if read else ""
    frm, to = range_of(given["from"], given["to"], now, names, hint)
    # why: the fires view's window is [since, until], like `from` and `to`
    ask = {"name": name, "since": frm.isoformat(), "until": to.isoformat(), "limit": FIRES_MAX}
    answer = fires_of(views, ask, now)
    if answer["more"] and answer["fires"]:
        # why: the fires answer stops where its window did, so its length is no count of the
        # range (8600 of ~550,000 read as a wrong count); the limit is what the operator needs
        raise InvalidInput(
            f"more than {FIRES_MAX} fires from {iso(frm)} to {iso(to)} (a backfill takes at "
            f"most {FIRES_MAX}): backfill a shorter range at a time"
        )
    todo, left = plan(answer["fires"], bool(params.get("rerun")))
    return {
        "schedule": name,
        "from": iso(frm),
        "to": iso(to),
        "overlap": overlap,
        "max_parallel": most,
        "backfill": todo,
        "left": left,
        "tz": tz,
        "notes": [
            f"{name} {text} read as {day}: HH:MM is the latest such time, and {text} had not "
            "come yet today"
            for name, text, day in days
            if day.endswith("(yesterday)")
        ],
    }


def _spelled(params: dict[str, Any]) -> tuple[str, str]:
    """How the asker spells from and to in its errors: the CLI `--from`/`--to` (`spelled`),
    the HTTP API its body's `from`/`to`."""
    spelled = params.get("spelled")
    if isinstance(spelled, list) and len(spelled) == 2 and all(isinstance(n, str) for n in spelled):
        return spelled[0], spelled[1]
    return "from", "to"


def _clock_days(
    params: dict[str, Any],
    given: dict[str, datetime],
    names: tuple[str, str],
    tz: str,
    now: datetime,
) -> list[tuple[str, str, str]]:
    """(option, HH:MM, `2026-12-02 13:25 UTC (yesterday)`) for each bare HH:MM of from/to.

    why: HH:MM is the latest such wall time, so a `--to 13:25` not yet come today is
    yesterday's: a range that silently spans a day, or is reversed, unless said
    """
    zone = pytz.timezone(tz)
    today = now.astimezone(zone).date()
    out = []
    for key, name in zip(("from", "to"), names, strict=True):
        text = str(params.get(key) or "").strip()
        if is_clock(text):
            wall = given[key].astimezone(zone)
            day = "today" if wall.date() == today else "yesterday"
            out.append((name, text, f"{wall:%Y-%m-%d %H:%M} {tz} ({day})"))
    return out
