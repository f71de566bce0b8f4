"""Answers to queries: pure functions from views (and the time) to JSON-ready data."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytz

from jetcron.clock import iso_z
from jetcron.domain.calendar import used_by
from jetcron.domain.durations import time_or_ago
from jetcron.domain.errors import CalendarNotFound, ScheduleNotFound
from jetcron.domain.field_values import flat_diff
from jetcron.domain.runs import FANNED_OUT
from jetcron.errors import InvalidInput
from jetcron.projections import (
    aged,
    audit,
    calendars,
    fanout,
    held,
    ledger,
    refused,
    runs,
    schedules,
    stats,
    stats_alltime,
)
from jetcron.projections.limits import FIRES_MAX as FIRES_MAX  # why: cli/fires.py reads it here
from jetcron.projections.state import Views


def plain(value: Any) -> Any:
    """JSON-ready builtins with every field present (the Structs omit defaults when stored)."""
    if isinstance(value, msgspec.Struct):
        return {f: plain(getattr(value, f)) for f in value.__struct_fields__}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return msgspec.to_builtins(value)


def iso(dt: datetime | None) -> str | None:
    """UTC ISO-8601 with a `Z` (None stays None): the one time format of answers and texts."""
    return None if dt is None else iso_z(dt)


def _since(params: dict[str, Any], now: datetime, key: str = "since") -> datetime | None:
    """A time parameter: ISO-8601 (naive means UTC, as in the CLI) or a duration back from now."""
    text = params.get(key)
    if not text:
        return None
    try:
        return time_or_ago(str(text), now)
    except ValueError as err:
        raise InvalidInput(str(err)) from None


def _between(
    params: dict[str, Any], now: datetime, until_else: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """The `since` and `until` parameters (`until_else` when none is given; both ends
    included, as `fires` and `runs list` take them); InvalidInput when since is after until,
    or, with no until given, after now (nothing has fired then yet)."""
    given = _since(params, now, "until")
    since, until = _since(params, now), given or until_else
    # why: one rule for `fires` and `runs list`: a window without an end ends now, so a
    # future --since is refused by both, not refused by one and an empty list in the other
    end = given if given is not None else now
    if since is not None and since > end:
        shown = [iso(t.replace(microsecond=0)) for t in (since, end)]
        if given is None:
            raise InvalidInput(f"--since {shown[0]} is in the future (now {shown[1]})")
        raise InvalidInput(f"--since {shown[0]} is after --until {shown[1]}")
    return since, until


def abbr(when: datetime | None, tz: str) -> str:
    """The zone's abbreviation at `when` as pytz names it (`CET`, `CEST`, `EST`; "" if none):
    the CLI's and the console's one label for a schedule's zone."""
    return "" if when is None else str(when.astimezone(pytz.timezone(tz)).tzname() or "")


def _missing(views: Views, name: str) -> Exception:
    """ScheduleNotFound, or why it is missing if its definition in the log was refused."""
    found = refused.of(views.refused, name)
    if found is None:
        return not_found(views, name)
    return InvalidInput(refused.explain(name, found, exists=False))


def _note_refused(views: Views, name: str, data: dict[str, Any]) -> None:
    """`refused`: the line saying a later definition of this live schedule was refused."""
    found = refused.of(views.refused, name)
    if found is not None:
        data["refused"] = refused.explain(name, found, exists=True)


def list_runs(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A page of runs, newest first."""
    name = params.get("schedule")
    if name and schedules.get(views.schedules, name) is None and not _ever_existed(views, name):
        raise not_found(views, name)
    limit = max(1, min(int(params.get("limit", 50)), 10_000))
    offset = max(0, int(params.get("offset", 0)))
    live = schedules.get(views.schedules, name) if name else None
    since, until = _between(params, now)
    rows = runs.query(
        views.runs,
        schedule=name,
        status=params.get("status"),
        since=since,
        until=until,
        limit=limit + 1,
        offset=offset,
        before=_before(params, now),
        # why: `current` asks for the live schedule's runs only (`runs last`); otherwise the
        # history of the name, earlier schedules' runs marked `previous`
        schedule_id=live.schedule_id if live is not None and params.get("current") else None,
    )
    more = len(rows) > limit
    return {
        "runs": [run_dict(views, r) for r in rows[:limit]],
        "more": more,
        "next_offset": offset + limit if more else None,
        "next_before": _cursor(rows[limit - 1]) if more else None,
    }


def run_dict(views: Views, row: runs.RunRow) -> dict[str, Any]:
    """A run as answers show it; `previous: true` when it belongs to an earlier schedule of
    its name (deleted; the name may be in use again by another schedule); `offline`: its
    executor is offline while it holds it, so it may not be running (held.py); `error_attempt`:
    the earlier attempt whose error it shows (runs.error_attempt)."""
    data: dict[str, Any] = plain(row)
    if note := held.note(views.hosts, row):
        data["offline"] = note
    if earlier := runs.error_attempt(row):
        data["error_attempt"] = earlier
    live = views.schedules.rows.get(row.schedule)
    if live is None or live.schedule_id != row.schedule_id:
        data["previous"] = True
    return data


def _cursor(row: runs.RunRow) -> list[str]:
    fire_time, key = runs.order_key(row)
    return [iso(fire_time) or "", key]


def _before(params: dict[str, Any], now: datetime) -> tuple[datetime, str] | None:
    """The `before` cursor ([fire time, run id] of the last row of a page), or None."""
    cursor = params.get("before")
    if not cursor:
        return None
    when = (
        _since({"t": cursor[0]}, now, "t")
        if isinstance(cursor, list) and len(cursor) == 2
        else None
    )
    if when is None:
        raise InvalidInput("invalid cursor: give `next_before` of the previous page")
    return when, str(cursor[1])


def not_found(views: Views, name: str) -> ScheduleNotFound:
    """No schedule of this name is held: a live name close to it (a typo), or, if deleted ones
    were forgotten, it may be one."""
    from difflib import get_close_matches

    close = get_close_matches(name, list(views.schedules.rows), n=1)
    if close:
        return ScheduleNotFound(name, f"did you mean {close[0]!r}?")
    forgotten = views.schedules.forgotten
    if not forgotten:
        return ScheduleNotFound(name)
    return ScheduleNotFound(
        name,
        f"the views hold the last {views.keep_deleted} deleted schedules and {forgotten} "
        "deleted before them no longer (their definitions and audit stay in the log)",
    )


def _ever_existed(views: Views, name: str) -> bool:
    return any(r.name == name for r in views.schedules.deleted.values())


def one_run(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One run by id or by a unique prefix of it (the CLI shows 8 characters)."""
    ref = str(params.get("run_id", "")).strip()
    found = runs.matching(views.runs, ref) if ref else []
    if len(found) != 1:
        raise InvalidInput(_no_single_run(ref, found, views.keep))
    row = views.runs.rows[found[0]]
    shown = run_dict(views, row)
    if aged.aged(row.seq, *aged.gone(params)):
        # why: its events (and output) are gone from the log; `runs logs` must not say "no output"
        shown["aged_out"] = {"retention_s": params.get("retention_s", 0)}
    if row.status == FANNED_OUT:
        # why: the trigger of a fan-out is no run; its members' runs are what became of it
        members = fanout.of_rows(views.runs, row.schedule, row.run_id)
        shown["members"] = dict(sorted((r.run_id, r.status) for r in members))
    return shown


def _no_single_run(ref: str, found: list[str], keep: int = 0) -> str:
    if not ref:
        return "give a run id (or its first characters)"
    if not found and keep:
        # why: with bounded views an old run is gone from them, not from history
        return (
            f"no run {ref!r} among the last {keep} per schedule the views keep "
            "(older runs are counted in `jetcron stats`): see `jetcron runs list`"
        )
    if not found:
        return f"no run {ref!r}: see `jetcron runs list`"
    shown = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
    return f"run id {ref!r} is ambiguous: it starts {shown}; give more characters"


def stats_of(
    views: Views, params: dict[str, Any], now: datetime, cache: stats_alltime.Cache | None = None
) -> list[stats.StatsRow]:
    """Statistics per schedule, per executor and overall (`cache`: the service's, see stats)."""
    window = params.get("window_s")
    delta = timedelta(seconds=float(window)) if window else None
    name = params.get("schedule")
    live = schedules.get(views.schedules, name) if name else None
    if name and live is None and not _ever_existed(views, name):
        raise not_found(views, name)
    # why: a live schedule's statistics are its own, not an earlier schedule's of that name
    # (as `schedule list` counts them); a deleted name's are all of its history
    sid = live.schedule_id if live is not None else None
    if delta is None:
        groups = stats_alltime.everything(
            views.runs, views.rollups, now=now, schedule=name, cache=cache, schedule_id=sid
        )
    else:
        groups = stats.compute_groups(
            views.runs, views.rollups, now=now, window=delta, schedule=name, schedule_id=sid
        )
    out = []
    for g in stats.GROUPS:
        for row in groups[g]:
            if g == "executor" and not row.runs:
                continue  # why: skipped fires only: no executor, no run (newcomer19b F13)
            row.group = g
            out.append(row)
    # why: Structs, not plain() dicts: the service's encoder writes them ~10x faster, and a
    # StatsRow stores every field, so the JSON is the same
    return out


def audit_of(views: Views, params: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """Every change (schedules, run commands, calendars, sinks, acks) with actor, reason, diff."""
    name = params.get("name") or None
    if name and not audit.query(views.audit, name=name, limit=1):
        if schedules.get(views.schedules, name) is None and not _ever_existed(views, name):
            raise not_found(views, name)
    entries = audit.query(views.audit, name=name, since=_since(params, now))
    return [_with_changes(plain(e)) for e in entries]


def _with_changes(entry: dict[str, Any]) -> dict[str, Any]:
    """An audit entry with `changes`: its diff as the fields the operator wrote, `[field, old,
    new]` in their units (`["retries", 0, 3]`, `["timeout", "1h", "30s"]`); old is null in a
    creation. `diff` stays as stored (definition paths, seconds)."""
    diff: dict[str, list[Any]] = entry["diff"]
    if entry["type"].startswith("schedule."):
        created = entry["type"] == "schedule.created"
        entry["changes"] = [list(c) for c in flat_diff(diff, created=created)]
    else:  # why: a calendar's fields are its own, not the schedule table's
        entry["changes"] = [[k, *v] for k, v in diff.items()]
    return entry


def ledger_of(views: Views, params: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """Every nominal fire and what became of it."""
    entries = ledger.query(
        views.ledger,
        schedule=params.get("schedule"),
        since=_since(params, now),
        limit=int(params.get("limit", 100)),
    )
    return [plain(e) for e in entries]


def notifications_of(views: Views, params: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """Every notification sink with its rules and delivery record (secrets left out)."""
    out = []
    for name, row in sorted(views.notifications.rows.items()):
        data = plain(row)
        data["notification"]["sink"].pop("secret", None)
        data["signed"] = bool(row.notification.sink.secret)
        data["name"] = name
        data["sink"] = row.notification.sink.kind
        data["where"] = row.notification.sink.where
        out.append(data)
    return out


def list_calendars(views: Views, params: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """All live calendars, by name, with the schedules that use them."""
    return [_calendar(views, row) for _, row in sorted(views.calendars.rows.items())]


def one_calendar(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One calendar with the schedules that use it and its next stretches of cover."""
    name = str(params.get("name", ""))
    row = views.calendars.rows.get(name)
    if row is None:
        raise CalendarNotFound(name)
    return _calendar(views, row)


def _calendar(views: Views, row: calendars.CalendarRow) -> dict[str, Any]:
    data: dict[str, Any] = plain(row)
    uses = [(r.name, r.definition) for r in views.schedules.rows.values()]
    data["used_by"] = used_by(row.name, uses)
    return data
