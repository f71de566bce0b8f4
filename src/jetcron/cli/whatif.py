"""`jetcron schedule update NAME ... --what-if` and `jetcron calendar update NAME ... --what-if`:
what a timing or calendar change would have done; sends nothing."""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

import msgspec

from jetcron.cli import text
from jetcron.cli.common import ask_view, count_option, echo, print_json, table
from jetcron.domain.calendar import CalendarPatch
from jetcron.domain.definition import DefinitionPatch

SHOWN = 20
"""Changed past fires the text view lists (all of them with --json)."""
NextOpt = count_option(5, "-n", help="With --what-if: how many next fires.", most=100)


def what_if_option(shows: str) -> Any:
    """The `--what-if` flag of an update command; `shows` completes "Change nothing: show ..."."""
    import typer

    return typer.Option(False, "--what-if", help=f"Change nothing: show {shows}")


def show(
    server: str, name: str, patch: DefinitionPatch, window: str, n: int, as_json: bool
) -> None:
    """Ask the `whatif` view about `patch` and print its answer."""
    answer: dict[str, Any] = ask_view(server, "whatif", _params(name, patch, window, n))
    if as_json:
        print_json(answer)
        return
    for line in lines(answer, window):
        echo(line)
    if answer.get("timing_changed", True):
        _next_table(answer, n)


def show_calendar(
    server: str, name: str, patch: CalendarPatch, window: str, n: int, as_json: bool
) -> None:
    """Ask the `calendar_whatif` view about `patch` and print, per schedule using the
    calendar, what it would have given back or taken."""
    answer: dict[str, Any] = ask_view(
        server, "calendar_whatif", _params(name, patch, window, n, "--past")
    )
    if as_json:
        print_json(answer)
        return
    users = answer["schedules"]
    echo(
        f"what if calendar {name}: {_calendar(answer['before'])} -> "
        f"{_calendar(answer['after'])} (nothing changed)"
    )
    if not users:
        echo(f"no schedule uses {name}: no fire would change")
    for one in users:
        echo("")
        echo(f"{one['schedule']} ({one['uses']}, '{one['spec']}' {one['tz']}):")
        for line in counts(one, window):
            echo(line)
        _next_table(one, n)


def _params(
    name: str,
    patch: DefinitionPatch | CalendarPatch,
    window: str,
    n: int,
    option: str = "--window",
) -> dict[str, Any]:
    from jetcron.domain.durations import window_seconds

    return {
        "name": name,
        "patch": msgspec.to_builtins(patch),
        "window_s": window_seconds(window, option),
        "n": n,
    }


def _next_table(answer: dict[str, Any], n: int) -> None:
    table(
        f"next {n} fires",
        ["#", "before (UTC)", "after (UTC)"],
        (
            [i, text.utc(b) if b else "-", text.utc(a) if a else "-"]
            for i, (b, a) in enumerate(zip_longest(answer["next_before"], answer["next_after"]), 1)
        ),
    )


def lines(answer: dict[str, Any], window: str) -> list[str]:
    """The heading, the counts and up to SHOWN changed fires, as plain lines."""
    b, a = answer["before"], answer["after"]
    if not answer.get("timing_changed", True):
        # why: comparing the recorded fires with recomputed ones would report moves no change made
        return [
            f"what if {answer['schedule']}: this update does not touch its timing "
            f"({_timing(b)}): the fire times do not change (nothing sent)"
        ]
    heading = f"what if {answer['schedule']}: {_timing(b)} -> {_timing(a)} (nothing changed)"
    return [heading, *counts(answer, window)]


def counts(answer: dict[str, Any], window: str) -> list[str]:
    """The counts and up to SHOWN changed fires of one schedule, as plain lines."""
    out = [
        f"past {window} from {text.utc(answer['since'])}: {answer['fires_before']} fires "
        f"recorded, {answer['fires_after']} with the change; {answer['moved']} moved, "
        f"{answer['appeared']} appeared, {answer['vanished']} vanished, "
        f"{answer['unchanged']} unchanged",
    ]
    if answer.get("more"):
        out.append("  (the window held too many fires: only its latest part is compared)")
    changes = answer["changes"]
    out += [f"  {_change(c)}" for c in changes[-SHOWN:]]
    if len(changes) > SHOWN:
        out.append(f"  (the {len(changes) - SHOWN} earlier changes: --json)")
    if answer["state"] != "active":
        out.append(f"note: {answer['schedule']} is {answer['state']}: it fires neither way now")
    return out


def _calendar(d: dict[str, Any]) -> str:
    from jetcron.cli.calendars import covers_text

    return f"[{covers_text(d)}] ({d['tz']})"


def _timing(side: dict[str, Any]) -> str:
    cals = [f"{how} {','.join(side[k])}" for k, how in _USES if side.get(k)]
    return f"'{side['spec']}' ({side['tz']}{''.join(f', {c}' for c in cals)})"


_USES = (("exclude", "exclude"), ("only_within", "only within"))


def _change(c: dict[str, Any]) -> str:
    kind = c["change"]
    if kind == "moved":
        shift = c["shift_s"]
        sign = "+" if shift > 0 else "-"
        what = (
            f"{text.utc(c['before'])} -> {text.utc(c['after'])} ({sign}{text.duration(abs(shift))})"
        )
    else:
        what = text.utc(c["before"] if kind == "vanished" else c["after"])
    was = _was(c)
    return f"{kind:8}  {what}" + (f"  was {was}" if was else "")


def _was(c: dict[str, Any]) -> str:
    """What the fire had become: `triggered (succeeded, run 1a2b3c4d)`, `skipped (excluded by
    maint (window 0 2 * * sun for 4h))`."""
    fate = c.get("fate")
    if not fate:
        return ""
    status = c.get("status") or ""
    run = text.short_id(c["run_id"]) if c.get("run_id") else ""
    parts = (status if status != fate else "", run and f"run {run}", c.get("reason") or "")
    detail = ", ".join(p for p in parts if p)
    return f"{fate} ({detail})" if detail else str(fate)
