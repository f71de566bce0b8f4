"""/api/v1: stats, health, status, audit, due, executors, preview, zones, whoami; probes."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pytz
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jetcron.domain.commands import AcknowledgeHealth
from jetcron.errors import JetcronError
from jetcron.projections.limits import DUE_LIMIT, DUE_MAX
from jetcron.web.auth import User
from jetcron.web.gateway import Gateway, meta
from jetcron.web.http import (
    TAKES_REASON,
    JsonBody,
    caller,
    gateway,
    header_reason,
    json,
    only_reason,
    writer,
)
from jetcron.web.problems import bad_query, window_param
from jetcron.web.timing import preview as preview_of
from jetcron.web.wording import for_web

router = APIRouter(prefix="/api/v1", tags=["views"])
probes = APIRouter(tags=["probes"])
Gw = Annotated[Gateway, Depends(gateway)]
Reader = Annotated[User, Depends(caller)]
Writer = Annotated[User, Depends(writer)]


def _seconds(text: str | None, name: str) -> float | None:
    """A window parameter in seconds (None when not given); 400 for a bad or zero one."""
    return window_param(text, name) if text else None


@router.get("/stats", summary="Run statistics per schedule, per executor and overall")
async def stats(
    gw: Gw,
    _: Reader,
    schedule: str | None = None,
    window: Annotated[str | None, Query(description="Only runs fired within, e.g. 24h")] = None,
) -> Response:
    params: dict[str, Any] = {"schedule": schedule}
    if (seconds := _seconds(window, "window")) is not None:
        params["window_s"] = seconds
    return json(await gw.ask("stats", params))


@router.get("/health", summary="Problems: failing or stale schedules, offline executors")
async def health(gw: Gw, _: Reader) -> Response:
    report: dict[str, Any] = await gw.ask("health")
    for problem in report.get("problems", []):
        problem["detail"] = for_web(problem["detail"])  # why: "then `jetcron health --ack`"
    return json(report)


@router.post(
    "/health/ack",
    summary="Acknowledge the bad events and offline executors health lists now (operator)",
    openapi_extra=TAKES_REASON,
)
async def acknowledge(request: Request, gw: Gw, user: Writer, data: JsonBody) -> Response:
    # why: the body {"reason": "…"} as pause and cancel take it; the query or X-Reason too
    reason = only_reason(data) or header_reason(request)
    reply = await gw.send(AcknowledgeHealth(**meta("health", user, reason)))
    return json({"seq": int(reply.events[0].seq)})


@router.get("/status", summary="The system at a glance: log, views, replicas, executors")
async def status(gw: Gw, _: Reader) -> Response:
    return json(await gw.ask("status"))


@router.get(
    "/views",
    summary="Whether the views the answers come from are current, or stale or silent since when",
)
async def views(gw: Gw, _: Reader) -> Response:
    if gw.freshness.due():
        # why: the cheapest query; what it answers (or not) is the news (readyz asks it too)
        with contextlib.suppress(JetcronError):
            await gw.ask("due", {"limit": 1, "within_s": 1})
    return json(gw.freshness.report())


@router.get("/audit", summary="Every change: when, who, why, and the diff")
async def audit(gw: Gw, _: Reader, name: str | None = None, since: str | None = None) -> Response:
    return json(await gw.ask("audit", {"name": name, "since": since}))


@router.get("/due", summary="Upcoming fires across all active schedules, soonest first")
async def due(
    gw: Gw,
    _: Reader,
    within: Annotated[str, Query(description="Look this far ahead, e.g. 1h")] = "1h",
    limit: Annotated[int, Query(ge=1, le=DUE_MAX)] = DUE_LIMIT,
) -> Response:
    return json(await gw.ask("due", {"within_s": _seconds(within, "within"), "limit": limit}))


@router.get("/conflicts", summary="Schedules sharing a target or tag whose runs would overlap")
async def conflicts(
    gw: Gw,
    _: Reader,
    within: Annotated[str, Query(description="Look this far ahead, e.g. 7d")] = "7d",
    schedule: Annotated[str | None, Query(description="Only this schedule's conflicts")] = None,
    crowded: Annotated[
        bool, Query(description="Only those a run would wait for (`schedule add` warns of)")
    ] = False,
) -> Response:
    params = {"within_s": _seconds(within, "within"), "name": schedule or None, "crowded": crowded}
    return json(await gw.ask("conflicts", params))


@router.get("/executors", summary="Executors online now (from their heartbeats)")
async def executors(gw: Gw, _: Reader) -> Response:
    return json(await gw.executors())


@router.get("/preview", summary="Next fires of a spec in a zone, with DST notes (offline)")
async def preview(
    _: Reader,
    spec: str,
    tz: str = "UTC",
    n: Annotated[int, Query(ge=1, le=1000)] = 10,
    after: Annotated[str | None, Query(description="ISO; without offset: wall time in tz")] = None,
) -> Response:
    try:
        return json(preview_of(spec, tz, n, after, datetime.now(UTC)))
    except JetcronError as err:
        raise bad_query(err) from None


@router.get("/zones", summary="IANA time zone names (for a zone picker)")
async def zones(_: Reader) -> Response:
    return json(list(pytz.common_timezones))


@router.get("/whoami", summary="The authenticated user and role")
async def whoami(gw: Gw, user: Reader) -> Response:
    return json(dict(msgspec.to_builtins(user), auth=gw.tokens.configured))


@probes.get("/healthz", summary="Liveness: the gateway process answers")
async def healthz() -> Response:
    return json({"ok": True})


@probes.get("/readyz", summary="Readiness: NATS connected and the query service answers")
async def readyz(gw: Gw) -> Response:
    if not gw.connected:
        return json({"ready": False, "problem": "NATS unreachable"}, 503)
    try:
        async with asyncio.timeout(2.0):  # why: not wait_for (log/follow.set_within)
            await gw.ask("due", {"limit": 1, "within_s": 1})
    except JetcronError as err:
        return json({"ready": False, "problem": for_web(str(err))}, 503)
    except TimeoutError:
        # why: a bare TimeoutError has no text; say what did not answer
        return json({"ready": False, "problem": "no jetcron service answered within 2s"}, 503)
    return json({"ready": True})
