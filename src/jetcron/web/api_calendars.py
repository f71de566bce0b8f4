"""/api/v1/calendars (list, get, create, patch, delete, what-if) and a schedule's skip/unskip of
one fire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jetcron.domain.calendar import (
    CalendarDefinition,
    CalendarPatch,
    in_use,
    patched,
    validate_calendar,
    validate_calendar_name,
)
from jetcron.domain.commands import (
    CreateCalendar,
    DeleteCalendar,
    SkipFire,
    UnskipFire,
    UpdateCalendar,
)
from jetcron.domain.errors import CommandRejected
from jetcron.domain.typenames import located
from jetcron.errors import InvalidInput
from jetcron.projections.skips import coming_fire
from jetcron.web.auth import User
from jetcron.web.gateway import Gateway, meta
from jetcron.web.http import (
    JsonBody,
    caller,
    component,
    gateway,
    header_reason,
    json,
    reason_of,
    takes,
    writer,
)
from jetcron.web.problems import Problem, json_object, window_param

router = APIRouter(prefix="/api/v1", tags=["calendars"])
Gw = Annotated[Gateway, Depends(gateway)]
Reader = Annotated[User, Depends(caller)]
Writer = Annotated[User, Depends(writer)]
_FIELDS = frozenset(CalendarDefinition.__struct_fields__)
_NAMED = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
_CREATE = takes({"allOf": [component("CalendarDefinition"), _NAMED]}, required=True)
_PATCH = takes(component("CalendarDefinition"), required=True)
"""The fields to change (null resets one); lists are replaced whole."""
_FIRE = takes(
    {
        "type": "object",
        "properties": {
            "time": {"type": "string", "description": "ISO-8601, a wall time, or HH:MM"},
            "reason": {"type": "string"},
        },
        "required": ["time"],
        "additionalProperties": False,
    },
    required=True,
)


def _fields(data: Any, *, named: bool) -> dict[str, Any]:
    """The calendar fields of a body; 422 naming an unknown one."""
    json_object(data, 'of calendar fields, like {"dates": ["2026-12-25"]}')
    allowed = _FIELDS | {"name"} if named else _FIELDS
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Problem(
            422, f"unknown calendar field {unknown[0]!r}: one of {', '.join(sorted(allowed))}"
        )
    return {k: v for k, v in data.items() if k != "name"}


async def _one(gw: Gateway, name: str) -> dict[str, Any]:
    row: dict[str, Any] = await gw.ask("calendar", {"name": name})  # why: CalendarNotFound: 404
    return row


@router.get("/calendars", summary="Calendars with what they cover and who uses them")
async def list_calendars(gw: Gw, _: Reader) -> Response:
    return json({"calendars": await gw.ask("calendars")})


@router.get("/calendars/{name}", summary="One calendar")
async def get_calendar(name: str, gw: Gw, _: Reader) -> Response:
    return json(await _one(gw, name))


@router.post("/calendars", status_code=201, summary="Create a calendar", openapi_extra=_CREATE)
async def create_calendar(request: Request, gw: Gw, user: Writer, data: JsonBody) -> Response:
    name = str(data.get("name", "")) if isinstance(data, dict) else ""
    fields = _fields(data, named=True)
    try:
        validate_calendar_name(name)
        definition = validate_calendar(msgspec.convert(fields, CalendarDefinition))
    except msgspec.ValidationError as err:
        raise Problem(422, str(located("", err, fields))) from None  # why: not msgspec's words
    except (CommandRejected, InvalidInput) as err:
        raise Problem(422, str(err)) from None
    try:
        await gw.send(
            CreateCalendar(**meta(name, user, header_reason(request)), definition=definition)
        )
    except CommandRejected as err:
        raise Problem(409, str(err)) from None  # why: the body was checked: it exists already
    return json(await _one(gw, name), 201, {"Location": f"/api/v1/calendars/{name}"})


async def _patch(gw: Gateway, name: str, data: Any) -> CalendarPatch:
    """The body as a patch of calendar `name` (404 if there is none); 422 if the calendar it
    would make is not valid."""
    current = await _one(gw, name)
    values = _fields(data, named=False)
    defaults = CalendarDefinition()
    # why: as for schedules, null resets a field to its default
    values = {k: getattr(defaults, k) if v is None else v for k, v in values.items()}
    try:
        patch = msgspec.convert(values, CalendarPatch)
        validate_calendar(
            patched(msgspec.convert(current["definition"], CalendarDefinition), patch)
        )
    except msgspec.ValidationError as err:
        raise Problem(422, str(located("", err, values))) from None
    except (CommandRejected, InvalidInput) as err:
        raise Problem(422, str(err)) from None
    return patch


@router.patch(
    "/calendars/{name}",
    summary="Change a calendar (lists are replaced whole)",
    openapi_extra=_PATCH,
)
async def patch_calendar(
    name: str, request: Request, gw: Gw, user: Writer, data: JsonBody
) -> Response:
    patch = await _patch(gw, name, data)
    await gw.send(UpdateCalendar(**meta(name, user, header_reason(request)), patch=patch))
    return json(await _one(gw, name))


@router.post(
    "/calendars/{name}/what-if",
    summary="What a change (a PATCH body) would have done to the fires of the schedules using "
    "the calendar, and their next fires (sends nothing)",
    openapi_extra=_PATCH,
)
async def what_if(
    name: str,
    gw: Gw,
    _: Reader,
    data: JsonBody,
    window: Annotated[str, Query(description="How far back, e.g. 30d")] = "30d",
    n: Annotated[int, Query(ge=1, le=100)] = 5,
) -> Response:
    seconds = window_param(window, "window")  # why: the address is checked before the body
    patch = await _patch(gw, name, data)
    params = {"name": name, "patch": msgspec.to_builtins(patch), "window_s": seconds, "n": n}
    return json(await gw.ask("calendar_whatif", params))


@router.delete("/calendars/{name}", status_code=204, summary="Delete a calendar not in use")
async def delete_calendar(name: str, request: Request, gw: Gw, user: Writer) -> Response:
    # why: the decider refuses a calendar still in use (409) and a missing one (404); the views
    # also know schedules that named it before the log recorded references (see cli delete)
    row: dict[str, Any] = await gw.ask("calendar", {"name": name})
    if row["used_by"]:
        raise Problem(409, in_use(name, row["used_by"]))
    await gw.send(DeleteCalendar(**meta(name, user, header_reason(request))))
    return Response(status_code=204)


async def _skip(
    kind: type[SkipFire | UnskipFire], name: str, data: Any, gw: Gateway, user: User
) -> Response:
    text = str(data.get("time", "")) if isinstance(data, dict) else ""
    if not text:
        raise Problem(422, 'give the fire as {"time": "2026-12-24T03:00"} (ISO-8601 or HH:MM)')
    row = await gw.ask("schedule", {"name": name, "fires": 0})
    try:
        when = coming_fire(row, text, datetime.now(UTC))
    except InvalidInput as err:
        raise Problem(422, str(err)) from None
    reply = await gw.send(kind(**meta(name, user, reason_of(data)), fire_time=when))
    skipped, changed = kind is SkipFire, bool(reply.events)
    return json({"schedule": name, "fire_time": when, "skipped": skipped, "changed": changed})


@router.post(
    "/schedules/{name}/skip",
    summary="Skip one coming fire (who and why recorded)",
    openapi_extra=_FIRE,
)
async def skip(name: str, gw: Gw, user: Writer, data: JsonBody) -> Response:
    return await _skip(SkipFire, name, data, gw, user)


@router.post(
    "/schedules/{name}/unskip", summary="Run a skipped fire after all", openapi_extra=_FIRE
)
async def unskip(name: str, gw: Gw, user: Writer, data: JsonBody) -> Response:
    return await _skip(UnskipFire, name, data, gw, user)
