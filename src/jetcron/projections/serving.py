"""The views served over NATS micro: the query table, an endpoint per query, one answer per request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import ServiceConfig

from jetcron import __version__, subjects
from jetcron.domain.errors import CalendarNotFound, ScheduleNotFound
from jetcron.errors import InvalidInput, JetcronError
from jetcron.log.requests import packed, stale_headers
from jetcron.projections import (
    aged,
    backfill,
    fire_queries,
    forecast,
    last_run,
    queries,
    schedule_queries,
    status,
)
from jetcron.projections.staleness import Stale
from jetcron.projections.state import Views

if TYPE_CHECKING:
    from jetcron.projections.service import ProjectionService

log = logging.getLogger("jetcron.projections.service")  # why: its lines kept their logger's name
Query = Callable[[Views, dict[str, Any], datetime], Any]

QUERIES: dict[str, Query] = {
    "schedules": schedule_queries.list_schedules,
    "schedule": schedule_queries.one_schedule,
    "due": schedule_queries.due,
    "runs": queries.list_runs,
    "run": queries.one_run,
    "last_run": last_run.last_run_of,
    "stats": queries.stats_of,
    "audit": queries.audit_of,
    "ledger": queries.ledger_of,
    "fires": fire_queries.fires_of,
    "why": fire_queries.why_of,
    "notifications": queries.notifications_of,
    "whatif": forecast.what_if,
    "calendar_whatif": forecast.calendar_what_if,
    "backfill": backfill.backfill_plan,
    "conflicts": forecast.conflicts_of,
    "calendars": queries.list_calendars,
    "calendar": queries.one_calendar,
}
_encoder = msgspec.json.Encoder()


def endpoints(svc: ProjectionService) -> dict[str, Query]:
    """Every query this replica answers, those that need the service bound to it."""
    stats: Query = partial(_stats, svc)
    fns = {n: stats if fn is queries.stats_of else fn for n, fn in QUERIES.items()}
    fns["health"] = partial(status.health_of, svc)
    fns["status"] = partial(status.status_of, svc)
    fns["state"] = svc.state_answer
    fns["conflicts"] = partial(status.conflicts_of, svc)
    return fns


async def serve(svc: ProjectionService) -> Any:
    """Add the query service, each query on the shared group and on the replica's own."""
    service = await add_service(
        svc.nc,
        ServiceConfig(
            name=subjects.QUERY_SERVICE,
            version=__version__,
            queue_group=subjects.QUERY_SERVICE,
            description="jetcron projections: schedules, runs, stats, health, audit",
        ),
    )
    shared = service.add_group(name=subjects.QUERIES)
    # why: a queue-group request that lands on a frozen replica is never answered; the
    # client then asks one that just answered discovery, here (log/replicas.py)
    own = service.add_group(name=f"{subjects.REPLICA_QUERIES}.{service.id}")
    for name, fn in endpoints(svc).items():
        handler = _handler(svc, name, fn)
        await shared.add_endpoint(name=name, handler=handler)
        await own.add_endpoint(name=name, handler=handler)
    return service


def _handler(svc: ProjectionService, name: str, fn: Query) -> Callable[[Request], Awaitable[None]]:
    async def handle(req: Request) -> None:
        data, error, stale = await answer(svc, fn, req.data, name)
        headers = stale_headers(stale.iso(), stale.reason) if stale else {}
        if error is None:
            try:
                data, more = packed(data, svc.nc.max_payload)
            except ValueError as err:
                data, error = b"", ("400", str(err))
            else:
                headers |= more
        if error is None:
            await req.respond(data, headers=headers or None)
        else:
            await req.respond_error(error[0], error[1], data, headers=headers or None)

    return handle


def _stats(svc: ProjectionService, views: Views, params: dict[str, Any], now: datetime) -> Any:
    return queries.stats_of(views, params, now, svc.stats_cache)


async def answer(
    svc: ProjectionService, fn: Callable[..., Any], data: bytes, query: str = ""
) -> tuple[bytes, tuple[str, str] | None, Stale | None]:
    """Run one query: (JSON, None, stale), or (details, (code, message), stale) for an error.

    `stale` says whether the views answering may lack events, and since when.
    """
    stale = None
    try:
        params = msgspec.json.decode(data) if data else {}
        if not isinstance(params, dict):
            raise InvalidInput("query parameters must be a JSON object")
        if svc.log.retention_s:
            params["retention_s"] = svc.log.retention_s  # why: fires older are forgotten
        params["horizon_seq"] = horizon = await svc.horizon.seq()  # why: rows older aged out
        if asked := aged.candidates(query, svc.views, params, svc.clock.now(), horizon):
            params["gone_seqs"] = sorted(await svc.horizon.gone(asked))
        stale = svc.staleness(await svc.sync())
        result = fn(svc.views, params, svc.clock.now())
        if asyncio.iscoroutine(result):
            result = await result
        return _encoder.encode(result), None, stale
    except ScheduleNotFound as err:
        body = {"name": err.name, "hint": err.hint} if err.hint else {"name": err.name}
        return _encoder.encode(body), ("404", str(err)), stale
    except CalendarNotFound as err:
        # why: the asker tells a missing calendar from a missing schedule by `kind`
        body = {"name": err.name, "kind": "calendar"}
        return _encoder.encode(body), ("404", str(err)), stale
    except (InvalidInput, msgspec.DecodeError, ValueError) as err:
        return b"", ("400", str(err)), stale
    except JetcronError as err:
        return b"", ("500", str(err)), stale
    except Exception as err:  # noqa: BLE001 - answer, never leave the asker waiting
        log.exception("query failed")
        return b"", ("500", f"query failed: {str(err) or type(err).__name__}"), stale
