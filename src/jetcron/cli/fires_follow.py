"""`jetcron fires --follow`: the window, then a line for each fire as its fate lands, and again
when its run ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jetcron.cli import text
from jetcron.cli.common import echo, parse_iso, with_nats
from jetcron.cli.fires import detail, fate_of, local_cell, run_cell

if TYPE_CHECKING:
    import asyncio


async def window_then_follow(server: str, params: dict[str, Any], as_json: bool) -> None:
    from jetcron.client import query

    answer = await with_nats(server, lambda nc: query(nc, "fires", params))
    rows = answer["fires"]
    for row in rows:
        _emit(row, as_json)
    name = params["name"]
    await with_nats(
        server, lambda nc: _follow(nc, name, rows, answer["until"], as_json), follow=True
    )


FOLLOW_POLL_S = 1.0
"""Following also asks this often without news: fates that land by time alone (missed,
pending turning into a fate) and answers the query service had not folded yet."""
OPEN_FATES = frozenset({"pending", "upcoming"})
"""Fates that have not landed: nothing is printed for them yet."""


def _landed(row: dict[str, Any]) -> tuple[str, str] | None:
    """What a followed fire's line says: None before its fate lands, `open` while its run
    has not ended (printed once when the fate lands and again when the run ends)."""
    from jetcron.projections.runs import FINAL_STATUSES

    fate = row["fate"]
    if fate in OPEN_FATES:
        return None
    if fate in ("triggered", "deferred"):
        return fate, row["status"] if row.get("status") in FINAL_STATUSES else "open"
    return fate, ""


def _emit(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        import msgspec

        echo(msgspec.json.encode(row).decode())
        return
    local = [local_cell(row["local"])] if row["tz"] != "UTC" else []
    cells = [text.utc(row["utc"]), *local, fate_of(row), run_cell(row), detail(row)]
    echo(text.clean("  ".join(cells)).rstrip())


async def _follow(
    nc: Any, name: str, rows: list[dict[str, Any]], until: str, as_json: bool
) -> None:
    """After the window: print each fire whose fate (or run's end) lands, until cancelled.

    The subscription (`runs follow`'s) only wakes the loop; what a fire became is always
    the `fires` view's answer, so the lines say what `jetcron fires` would.
    """
    import asyncio
    import contextlib
    from datetime import UTC, datetime

    from jetcron.client import query
    from jetcron.log.errors import transient
    from jetcron.projections.queries import FIRES_MAX

    printed = {r["utc"]: _landed(r) for r in rows}
    inbox: asyncio.Queue[None] = asyncio.Queue()
    waking = asyncio.ensure_future(_wake(nc, name, inbox))
    echo(f"following the fires of {name} (Ctrl-C stops)", err=True)
    unanswered: str | None = None
    try:
        while True:
            if waking.done():
                waking.result()  # why: the log's reader failed for good (not an outage): say so
            since = _cursor(printed, until)
            try:
                answer = await query(
                    nc, "fires", {"name": name, "since": since, "limit": FIRES_MAX}
                )
            except Exception as err:
                # why: a follower rides out an outage or a stalled service, as `runs follow`
                # does; it says so once, and once again when answers come back
                if not transient(err):
                    raise
                if unanswered is None:
                    echo(f"note: {err}; still following (Ctrl-C stops)", err=True)
                unanswered = unanswered or text.utc(datetime.now(UTC))
                await asyncio.sleep(FOLLOW_POLL_S)
                continue
            if unanswered is not None:
                echo(f"note: answered again (unanswered since {unanswered}); following", err=True)
                unanswered = None
            for row in answer["fires"]:
                landed = _landed(row)
                if landed is not None and printed.get(row["utc"]) != landed:
                    _emit(row, as_json)
                printed[row["utc"]] = landed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FOLLOW_POLL_S):  # why: not wait_for (set_within)
                    await inbox.get()
            while not inbox.empty():  # why: one question answers a burst of events
                inbox.get_nowait()
    finally:
        waking.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await waking


async def _wake(nc: Any, name: str, inbox: asyncio.Queue[None]) -> None:
    """Put a wake-up into `inbox` for each batch of the schedule's events the log gets."""
    import asyncio

    from jetcron.cli.follow import events
    from jetcron.log.errors import transient

    while True:
        try:
            async for batch in events(nc, name):
                if batch:
                    inbox.put_nowait(None)
        except Exception as err:
            # why: only a wake-up (the loop asks every second anyway): an outage while it
            # opens is waited out, whatever else is the command's error
            if not transient(err) or nc.is_closed:
                raise
            await asyncio.sleep(FOLLOW_POLL_S)


def _cursor(printed: dict[str, tuple[str, str] | None], until: str) -> str:
    """Where the next question starts: just before the oldest fire still open, else at the
    newest one seen; printed fires before that are forgotten."""
    from datetime import UTC, datetime, timedelta

    waiting = [t for t, landed in printed.items() if landed is None or landed[1] == "open"]
    if waiting:
        start = min(waiting)
        # why: the view takes fires after `since`, which must be in the past
        since = min(parse_iso(start), datetime.now(UTC)) - timedelta(milliseconds=1)
        return _forget(printed, start, since.isoformat())
    newest = max(printed, default=until)
    return _forget(printed, newest, newest)


def _forget(printed: dict[str, tuple[str, str] | None], before: str, since: str) -> str:
    for t in [t for t in printed if t < before]:
        del printed[t]
    return since
