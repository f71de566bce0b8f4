"""`jetcron schedule update NAME ... --what-if`: what a timing change would have done; sends nothing."""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

import msgspec

from jetcron.cli import text
from jetcron.cli.common import ask_view, echo, print_json, table
from jetcron.domain.definition import DefinitionPatch
from jetcron.domain.spec import parse_duration
from jetcron.errors import InvalidInput

SHOWN = 20
"""Changed past fires the text view lists (all of them with --json)."""


def window_seconds(window: str) -> float:
    """`--window` in seconds; InvalidInput naming the option otherwise."""
    try:
        seconds = parse_duration(window).total_seconds()
    except ValueError as err:
        raise InvalidInput(f"--window: {err}") from err
    if seconds <= 0:
        raise InvalidInput("--window must be longer than 0s")
    return seconds


def show(
    server: str, name: str, patch: DefinitionPatch, window: str, n: int, as_json: bool
) -> None:
    """Ask the `whatif` view about `patch` and print its answer."""
    params = {
        "name": name,
        "patch": msgspec.to_builtins(patch),
        "window_s": window_seconds(window),
        "n": n,
    }
    answer: dict[str, Any] = ask_view(server, "whatif", params)
    if as_json:
        print_json(answer)
        return
    for line in lines(answer, window):
        echo(line)
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
    out = [
        f"what if {answer['schedule']}: {_timing(b)} -> {_timing(a)} (nothing changed)",
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


def _timing(side: dict[str, Any]) -> str:
    return f"'{side['spec']}' ({side['tz']})"


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
    """What the fire that moved or vanished had become: `triggered (succeeded, run 1a2b3c4d)`."""
    fate = c.get("fate")
    if not fate:
        return ""
    status = c.get("status") or ""
    run = text.short_id(c["run_id"]) if c.get("run_id") else ""
    detail = ", ".join(p for p in (status if status != fate else "", run and f"run {run}") if p)
    return f"{fate} ({detail})" if detail else str(fate)
