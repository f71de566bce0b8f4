"""`jetcron conflicts`, and the warning `schedule add/update` print about new conflicts."""

from __future__ import annotations

import sys
from typing import Any

import typer

from jetcron.cli import text
from jetcron.cli.common import (
    JsonOpt,
    ServerOpt,
    ask_view,
    echo,
    handle_errors,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.domain.durations import window_seconds

WARN_WITHIN_S = 7 * 86400.0
"""How far ahead `schedule add/update` look for new conflicts."""
Pairs = dict[tuple[str, str], dict[str, Any]]
"""Conflicts by (a, b), the two names sorted."""
WARN_TIMEOUT_S = 2.0
"""A warning is best effort: it never holds a command up longer than this."""


@handle_errors
def conflicts(
    within: str = typer.Option(
        "7d", "--within", metavar="DURATION", help="Look this far ahead, e.g. 1d, 7d."
    ),
    schedule: str | None = typer.Option(
        None, "--schedule", metavar="NAME", help="Only the conflicts of this schedule."
    ),
    crowded: bool = typer.Option(
        False,
        "--crowded",
        help="Only what `schedule add/update` warn of: runs without history taken to last 1m "
        "(not their timeout), and a shared target counted only where more runs would be in "
        "flight than its executors run at once.",
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Schedules sharing a target or a tag whose runs would overlap, most overlaps first.

    A run is assumed to last the schedule's p95 duration over the last 7 days; without runs,
    its timeout; without a timeout, 1m. A schedule with more than 10,000 fires in the window
    is compared up to its 10,000th (the count says where it stopped).
    """
    seconds = window_seconds(within, "--within")
    params: dict[str, Any] = {"within_s": seconds, "name": schedule}
    if crowded:
        params["crowded"] = True
    answer: dict[str, Any] = ask_view(server, "conflicts", params)
    rows = answer["conflicts"]
    if as_json:
        print_json(answer)
        return
    if not answer["complete"]:
        echo(
            f"(checked the first {answer['checked']} pairs by name: many schedules share a "
            "target or a tag; `--schedule NAME` checks one of them)",
            err=True,
        )
    if not rows:
        echo(f"no conflicts within {within}")
        return
    table(
        f"conflicts within {within}",
        ["schedules", "shared", "overlaps", "first (UTC)", "runs assumed"],
        (
            [
                f"{r['a']} + {r['b']}",
                ", ".join(r["shared"]),
                _overlaps(r, answer["until"]),
                text.utc(r["first"]),
                f"{_run(r['a_run'])} / {_run(r['b_run'])}",
            ]
            for r in rows
        ),
    )


def _overlaps(row: dict[str, Any], until: str) -> str:
    """The count, and where counting stopped when a dense schedule cut the window short."""
    cut = row["until"] != until
    return f"{row['overlaps']} (to {text.utc(row['until'])})" if cut else str(row["overlaps"])


def _run(estimate: dict[str, Any]) -> str:
    """`2.5s (p95)`, `1h (timeout)`, `1m (default)`."""
    return f"{text.duration(estimate['seconds'])} ({estimate['source']})"


def involving(server: str, name: str) -> Pairs | None:
    """The conflicts of `name` in the next 7 days by pair; None when nobody could say."""
    from jetcron.client import query

    # why: crowded: on one host every job shares the target `default`, and a job without
    # history taken to last its 1h timeout met all of them: a warning on every add (#6)
    params = {"within_s": WARN_WITHIN_S, "name": name, "crowded": True}
    try:
        answer = run(
            with_nats(server, lambda nc: query(nc, "conflicts", params, timeout=WARN_TIMEOUT_S))
        )
    except Exception:  # noqa: BLE001 - a warning is best effort; the command has been sent
        return None
    # why: the warning names where counting stopped when a dense schedule cut the window short
    most = answer.get("capacity", {})
    return {
        (c["a"], c["b"]): c | {"cut": c["until"] != answer["until"], "capacity": most}
        for c in answer["conflicts"]
    }


def warn_new(name: str, before: Pairs | None, after: Pairs | None) -> None:
    """One stderr line about the conflicts of `name` in `after` that were not in `before` (no
    line when either is unknown: an old conflict must not pass for a new one)."""
    if before is None or after is None:
        return
    fresh = [c for pair, c in after.items() if pair not in before]
    if not fresh:
        return
    sys.stdout.flush()  # why: the command's own line first, also when both go to one file
    # why: one line, however many pairs; a newcomer adding a third job on `default` should
    # not get a screenful
    fresh.sort(key=lambda c: (-c["overlaps"], c["first"]))
    others = [c["b"] if c["a"] == name else c["a"] for c in fresh]
    c = fresh[0]
    shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    count = sum(x["overlaps"] for x in fresh)
    assumed = any(
        x.get(side, {}).get("source") != "p95" for x in fresh for side in ("a_run", "b_run")
    )
    echo(
        f"warning: {name} would overlap {shown} ({', '.join(c['shared'])}): "
        f"{_plural(count, 'overlap')} "
        + (
            f"by {text.utc(min(x['until'] for x in fresh))}"
            if any(x.get("cut") for x in fresh)
            else "in the next 7d"
        )
        + _beyond(c)
        + f", the first at {text.utc(c['first'])}"
        + (
            "; runs without history are assumed to take 1m (their timeout if shorter)"
            if assumed
            else ""
        )
        + "; see `jetcron conflicts --crowded`",
        err=True,
    )


def _beyond(c: dict[str, Any]) -> str:
    """What the count is of when the pair shares only its target: runs past what its
    executors take at once (a shared tag counts every overlap)."""
    only = [s for s in c["shared"] if s.startswith("target ")]
    most = c.get("capacity", {}).get(only[0].removeprefix("target ")) if only else None
    if len(only) != len(c["shared"]) or not most:
        return ""  # why: no executor online serves it: every overlap counts, as for a tag
    return f" with more runs at once than its executors run ({most})"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
