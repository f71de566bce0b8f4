"""Whether the views the gateway's answers come from are current: what the console's banner
says at the top of every page ("stale since T: 12 event(s) behind the log", "not answering
since T").

The projection service marks an answer from views that may lack events (its follower down,
behind the log, the log not saying how far it goes) with since when they were complete; the
gateway keeps what its latest query learned (every query of every page teaches it), and
GET /api/v1/views reports that, asking afresh when nothing has asked for a few seconds. The
live stream's own state (NATS, the gateway's log read) is the badge's (events.state_of): this
is about the service behind the queries, which the stream does not go through.

An API answer built from a stale view carries the service's marks on as HTTP headers
(`Jetcron-Stale-Since`, `Jetcron-Stale-Reason`: `StaleHeaders`), as the CLI warns on stderr.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jetcron.log.requests import STALE_REASON, STALE_SINCE
from jetcron.web.wording import for_web

CHECK_AFTER_S = 5.0
"""How old the last word on the views may be before GET /api/v1/views asks again."""


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Freshness:
    """What the latest query said about the views: current, stale (since, why), or no answer
    (since when, the error)."""

    def __init__(self) -> None:
        self.heard_at = 0.0
        """When a query last ended, answered or not (monotonic; 0: never)."""
        self.stale: tuple[str, str] | None = None
        """(since, reason) of the latest answer from views that may lack events."""
        self.answered_at: float | None = None
        """Wall-clock time of the latest answer (None: none yet)."""
        self.failing_since: float | None = None
        """Since when queries get no answer: the first failure after the latest answer."""
        self.problem = ""
        self.nats_away = False
        """The latest failure was NATS's own (unreachable, stalled), not the service's."""

    def answered(self, stale: tuple[str, str] | None) -> None:
        """A query was answered (marked stale or not)."""
        self.heard_at, self.stale = time.monotonic(), stale
        self.answered_at, self.failing_since, self.problem = time.time(), None, ""

    def failed(self, problem: str, nats_away: bool = False, began: float | None = None) -> None:
        """A query got no answer (no service, none in time, NATS away: `nats_away`, since
        `began` as the gateway's connection saw it, if it knows)."""
        self.heard_at, self.problem = time.monotonic(), for_web(problem)
        self.nats_away = nats_away
        if self.failing_since is None:
            # why: the outage began at the first failure; dated from the last answer (a poll
            # of an earlier page) it began 22 s before NATS stopped (newcomer18b F11). What a
            # page shows is as of the last answer: `last_answer` says when that was. NATS's
            # own outage is dated as the live stream dates it (`began`), so the banner's line
            # keeps its time when the stream is back before the views are (nc21a #13).
            now = time.time()
            self.failing_since = now if began is None else min(now, began)

    def due(self) -> bool:
        """Whether the last word is too old to report without asking again."""
        return time.monotonic() - self.heard_at > CHECK_AFTER_S

    def report(self) -> dict[str, Any]:
        """{"current": true}, or since when the views are stale or silent, and why."""
        if self.failing_since is not None:
            last = {} if self.answered_at is None else {"last_answer": _iso(self.answered_at)}
            # why: `cause: nats` lets the banner blame NATS, not the scheduler (newcomer19b F7)
            cause = {"cause": "nats"} if self.nats_away else {}
            return {
                "current": False,
                "answering": False,
                "since": _iso(self.failing_since),
                "problem": self.problem,
                **last,
                **cause,
            }
        if self.stale is not None:
            since, reason = self.stale
            # why: the service words it for its log ("JetStream API $JS.API.…"): not a page's
            return {"current": False, "answering": True, "since": since, "problem": for_web(reason)}
        return {"current": True, "answering": True}


_MARKS: ContextVar[list[tuple[str, str]] | None] = ContextVar("stale_marks", default=None)


def marked(stale: tuple[str, str] | None) -> None:
    """Note a stale answer for the headers of the HTTP response being built (if any)."""
    marks = _MARKS.get()
    if stale is not None and marks is not None:
        marks.append(stale)


class StaleHeaders:
    """ASGI middleware: a response whose request was answered from stale views says since
    when and why in the service's own header names."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # why: a list the request's code appends to; a context copied on the way (a thread
        # for a sync dependency) still holds the same list
        marks: list[tuple[str, str]] = []
        token = _MARKS.set(marks)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and marks:
                since, reason = marks[-1]
                extra = [(STALE_SINCE.lower().encode(), since.encode()),
                         (STALE_REASON.lower().encode(), reason.encode("latin-1", "replace"))]  # fmt: skip
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _MARKS.reset(token)
