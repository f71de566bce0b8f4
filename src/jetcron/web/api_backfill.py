"""/api/v1/schedules/{name}/backfill: the CLI's `schedule backfill` over HTTP.

POST plans (the projections' `backfill` query, the CLI's rules) and, unless `dry_run`, paces
the runs in the background of this gateway (client.backfill, as the CLI does in the
foreground); GET says how far it got; DELETE stops sending more (runs sent go on).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from jetcron import client
from jetcron.domain.errors import ScheduleNotFound
from jetcron.errors import InvalidInput
from jetcron.projections.backfill import MOST_WITHOUT_YES
from jetcron.web.auth import User
from jetcron.web.gateway import Gateway, meta
from jetcron.web.http import JsonBody, caller, gateway, json, reason_of, takes, writer
from jetcron.web.problems import Problem, invalid, json_object
from jetcron.web.wording import for_web

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])
Gw = Annotated[Gateway, Depends(gateway)]
Reader = Annotated[User, Depends(caller)]
Writer = Annotated[User, Depends(writer)]
FIELDS = ("from", "to", "rerun", "dry_run", "max_parallel", "overlap", "yes", "reason")
KINDS: tuple[tuple[str, type, str], ...] = (
    ("from", str, "an ISO-8601 time"),
    ("to", str, "an ISO-8601 time"),
    ("overlap", str, "allow, skip or queue"),
    ("max_parallel", int, "a whole number"),
    ("rerun", bool, "true or false"),
    ("dry_run", bool, "true or false"),
    ("yes", bool, "true or false"),
)
_TYPES = {str: "string", int: "integer", bool: "boolean"}
_SCHEMA = {
    "type": "object",
    "properties": {
        **{key: {"type": _TYPES[kind], "description": text} for key, kind, text in KINDS},
        "reason": {"type": "string", "description": "Recorded with every run it sends"},
    },
    "required": ["from", "to"],
    "additionalProperties": False,
}


def _params(name: str, data: Any) -> dict[str, Any]:
    """The `backfill` query's parameters from a body (the query checks what they say);
    InvalidInput (a 422) naming an unknown field or one of the wrong kind."""
    json_object(data, 'like {"from": "2026-03-01", "to": "2026-03-02"}')
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}: one of {', '.join(FIELDS)}")
    for key, kind, example in KINDS:
        value = data.get(key)
        # why: JSON true is a Python int too; a bool is only a bool
        if value is not None and not (
            isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        ):
            raise InvalidInput(f"{key}: expected {example}, not {value!r}")
    for key in ("from", "to"):
        if not data.get(key):
            raise InvalidInput(f"{key}: give an ISO-8601 time, e.g. 2026-03-03T14:00:00Z")
    return {"name": name, **{k: data.get(k) for k in ("from", "to", "overlap", "max_parallel")},
            "rerun": bool(data.get("rerun"))}  # fmt: skip


@router.post(
    "/{name}/backfill",
    status_code=202,
    summary="Run the past fires of [from, to] that did not succeed, paced (dry_run: the plan)",
    openapi_extra=takes(_SCHEMA, required=True),
)
async def backfill(name: str, gw: Gw, user: Writer, data: JsonBody) -> Response:
    # why: the query holds the rules (range, overlap, parallel), as for the CLI; what the
    # body says wrong is a 422 as on every other endpoint, an unknown schedule a 404
    try:
        answer: dict[str, Any] = await gw.ask("backfill", _params(name, data))
    except ScheduleNotFound:
        raise
    except InvalidInput as err:
        raise invalid(err) from None
    todo = answer["backfill"]
    # why: a fire left alone says why in the plan's words, which name CLI options (--rerun)
    answer["left"] = [dict(f, why=for_web(f["why"])) for f in answer.get("left", [])]
    if len(todo) > MOST_WITHOUT_YES and not data.get("yes") and not data.get("dry_run"):
        raise invalid(
            InvalidInput(
                f"the plan has {len(todo)} fires (more than {MOST_WITHOUT_YES}): check from/to, "
                'or send "yes": true'
            )
        )
    if data.get("dry_run"):
        return json(answer)
    if name in gw.backfills:
        raise Problem(409, f"a backfill of {name!r} is already running here (DELETE stops it)")
    if todo:
        gw.backfills[name] = _start(gw, answer, user, reason_of(data))
    status = f"/api/v1/schedules/{name}/backfill"
    return json({**answer, "status": status}, 202 if todo else 200, {"Location": status})


def _start(
    gw: Gateway, answer: dict[str, Any], user: User, reason: str
) -> tuple[asyncio.Task[Any], client.Backfilling]:
    name, progress = answer["schedule"], client.Backfilling()

    async def pace() -> None:
        try:
            await client.backfill(
                gw.nc,
                answer["backfill"],
                overlap=answer["overlap"],
                most=answer["max_parallel"],
                meta=lambda: meta(name, user, reason),
                say=lambda line: log.info("backfill %s: %s", name, line),
                progress=progress,
            )
        except Exception:  # why: nobody awaits this task; the log is where a failure shows
            log.exception("backfill of %s stopped", name)
        finally:
            gw.backfills.pop(name, None)

    return asyncio.create_task(pace()), progress


@router.get("/{name}/backfill", summary="How far this gateway's backfill of the schedule got")
async def backfill_status(name: str, gw: Gw, _: Reader) -> Response:
    running = gw.backfills.get(name)
    if running is None:
        return json({"schedule": name, "running": False})
    done = running[1]
    return json(
        {
            "schedule": name,
            "running": True,
            "sent": [
                {"fire": f, "run_id": r, "status": done.ended.get(r, "")}
                for r, f in done.sent.items()
            ],
            "skipped": [{"fire": f, "why": w} for f, w in done.skipped.items()],
        }  # fmt: skip
    )


@router.delete("/{name}/backfill", status_code=204, summary="Stop sending more (runs sent go on)")
async def stop_backfill(name: str, gw: Gw, _: Writer) -> Response:
    running = gw.backfills.pop(name, None)
    if running is None:
        raise Problem(404, f"no backfill of {name!r} is running here")
    running[0].cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running[0]
    return Response(status_code=204)
