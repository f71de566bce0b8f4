"""`schedule list`, `show` and `next`: schedules as the views see them."""

from __future__ import annotations

from typing import Any

import typer

from jetcron.cli.common import (
    JsonOpt,
    ServerOpt,
    console,
    count_option,
    echo,
    err_console,
    fmt_time,
    handle_errors,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.cli.sending import query
from jetcron.cli.timing import fires_rows, print_fires


@handle_errors
def list_(
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
    all_: bool = typer.Option(False, "--all", "-a", help="Include completed schedules."),
) -> None:
    """All live schedules with their state and next fire."""
    rows: list[dict[str, Any]] = run(with_nats(server, lambda nc: query(nc, "schedules", {})))
    if not all_:
        rows = [r for r in rows if r["state"] != "completed"]
    if as_json:
        print_json(rows)
        return
    table(
        None,
        ["name", "spec", "tz", "state", "target", "next fire (UTC)", "last run", "runs"],
        (
            [
                r["name"],
                r["spec"],
                r["tz"],
                _state(r),
                r["target"],
                fmt_time(r["next_fire"]),
                _last(r),
                r.get("runs_total", 0),
            ]
            for r in rows
        ),
        # why: at 80 columns the next fire's minute and at 60 the names were cut evenly
        # with the rest; the run count and the target are the first to give way
        drop=("runs", "target"),
        cut=("last run", "tz", "spec", "state"),
        keep=("name", "next fire (UTC)"),
    )
    if aged := [r["name"] for r in rows if r.get("runs_aged_out")]:
        # why: `replay` counts only the runs still in the log, and says so (newcomer19c #2)
        echo(
            f"note: runs counts include runs whose events have aged out of the log "
            f"({', '.join(aged)}); `replay` counts only those the log still holds",
            err=True,
        )


def _last(row: dict[str, Any]) -> str:
    """The last run's status and time; `running?` while its executor is away (held.py)."""
    status = (row.get("last_status") or "-") + ("?" if row.get("last_offline") else "")
    at = fmt_time(row.get("last_run_at")) if row.get("last_run_at") else ""
    return f"{status} {at}"


def _state(row: dict[str, Any]) -> str:
    if row["state"] == "paused" and row.get("paused_reason"):
        return f"paused ({row['paused_reason']})"
    return str(row["state"])


@handle_errors
def show(name: str, server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """One schedule: its definition, state, last 10 runs and next 10 fires."""
    row: dict[str, Any] = run(with_nats(server, lambda nc: query(nc, "schedule", {"name": name})))
    if as_json:
        print_json(row)
        return
    d = row["definition"]
    _print_head(row)
    _print_runs(row.get("runs", []))
    fires = _marked(fires_rows(row.get("next_fires", []), d.get("tz", "UTC"), d["spec"]), row)
    if fires:
        print_fires(fires, "next fires")
    else:
        console.print(f"next fires: none ({_no_fires(row)})", highlight=False)


def _print_head(row: dict[str, Any]) -> None:
    """A schedule's name, state, version and id, then its definition's fields, one a line."""
    import msgspec
    from rich.markup import escape

    from jetcron.cli import text
    from jetcron.domain.definition import ScheduleDefinition
    from jetcron.domain.field_values import fields_of

    d = row["definition"]
    if row.get("refused"):
        err_console.print(f"note: {text.clean(row['refused'])}", highlight=False, markup=False)
    state = escape(text.clean(_state(row)))  # why: a pause reason is free text, not markup
    console.print(
        f"[bold]{row['name']}[/]  {state}  v{row['version']}  id {row['schedule_id']}",
        highlight=False,
    )
    # why: the same fields, names and units as `export` and the options (defaults left out)
    definition = msgspec.convert(d, ScheduleDefinition)
    fields = msgspec.to_builtins(fields_of(definition))
    lines = [(key, text.value(v, key)) for key, v in fields.items() if key != "name"]
    lines = [(k, f"{v}{_capped(definition)}" if k == "jitter" else v) for k, v in lines]
    if defaulted := _defaulted(fields):
        lines.append(("defaults", defaulted))
    lines += [
        ("created", f"{text.utc(row.get('created_at'))} by {row.get('created_by')}"),
        ("updated", f"{text.utc(row.get('updated_at'))} by {row.get('updated_by')}"),
    ]
    width = max(len(k) for k, _ in lines)
    for label, value in lines:
        console.print(f"  {label:{width}}  {text.clean(value)}", highlight=False, markup=False)


def _capped(d: Any) -> str:
    """` (capped: each fire waits less than 12h)` for a jitter above half the interval, as the
    scheduler caps it (the rule of `add`'s note: domain.fires.jitter_bound); else ""."""
    from datetime import timedelta

    from jetcron.domain.durations import format_duration
    from jetcron.domain.fires import jitter_bound, nominal_interval
    from jetcron.domain.spec import parse_spec

    if d.jitter_s <= 0 or d.spec.startswith("@at"):
        return ""
    bound = jitter_bound(d.jitter_s, nominal_interval(parse_spec(d.spec, d.tz), d.tz))
    if bound >= d.jitter_s:
        return ""
    return f" (capped: each fire waits less than {format_duration(timedelta(seconds=bound))})"


SHOWN_DEFAULTS = ("tz", "target", "timeout", "retries", "overlap", "catchup")
"""Fields an operator asks about that `show` names even at their default (left out above)."""


def _defaulted(fields: dict[str, Any]) -> str:
    """`timeout 1h, retries 0, …`: the SHOWN_DEFAULTS this schedule leaves at their default."""
    import msgspec

    from jetcron.cli import text
    from jetcron.domain.fields import ScheduleFields

    defaults = {f.name: f.default for f in msgspec.structs.fields(ScheduleFields)}
    return ", ".join(
        f"{key} {text.value(msgspec.to_builtins(defaults[key]), key)}"
        for key in SHOWN_DEFAULTS
        if key not in fields
    )


def _print_runs(runs: list[dict[str, Any]]) -> None:
    """The table of a schedule's last runs."""
    from jetcron.cli import text

    table(
        "last runs",
        ["run", "fired (UTC)", "status", "attempt", "executor", "took"],
        (
            [
                text.short_id(r["run_id"]),
                text.utc(r.get("fire_time")),
                f"{r.get('status')}{'?' if r.get('offline') else ''}",  # why: held.py
                r.get("attempt", 1),
                f"{r.get('executor', '')}{' (offline)' if r.get('offline') else ''}",
                text.duration(r.get("duration_s")),
            ]
            for r in runs
        ),
    )


def _marked(rows: list[dict[str, Any]], row: dict[str, Any]) -> list[dict[str, Any]]:
    """Fire rows with `skipped` (who and why) on the fires an operator skipped."""
    skips: dict[str, str] = row.get("skips", {})
    return [{**r, "skipped": skips[r["utc"]]} if r["utc"] in skips else r for r in rows]


@handle_errors
def next_(
    name: str,
    n: int = count_option(10, "-n", help="How many fires."),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The next fire times of a stored schedule."""
    row: dict[str, Any] = run(
        with_nats(server, lambda nc: query(nc, "schedule", {"name": name, "fires": n}))
    )
    rows = _marked(
        fires_rows(
            row.get("next_fires", [])[:n],
            row["definition"].get("tz", "UTC"),
            row["definition"]["spec"],
        ),
        row,
    )
    if as_json:
        print_json(rows)
    elif not rows:
        console.print(f"{name}: {_no_fires(row)}", highlight=False)
    else:
        print_fires(rows, None)


def _no_fires(row: dict[str, Any]) -> str:
    """Why a schedule has no next fires (`next` and `show`).

    why: an empty table with headers says nothing; say why there are no fires
    """
    return {
        "paused": "it is paused: no fires until `jetcron schedule resume`",
        "completed": "it has completed: no fires left",
    }.get(row.get("state", ""), "no fires ahead")
