"""/api/v1/schedules: list, get, create, patch, delete, pause, resume, trigger, next, what-if,
fires, why, last-run."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from jetcron.domain.commands import (
    CreateSchedule,
    DeleteSchedule,
    PauseSchedule,
    ResumeSchedule,
    TriggerSchedule,
    UpdateSchedule,
)
from jetcron.domain.definition import apply_patch
from jetcron.domain.errors import CommandRejected, ScheduleNotFound, VersionMismatch
from jetcron.errors import InvalidInput
from jetcron.projections.last_run import NO_FINISHED_RUN
from jetcron.projections.why import NOT_A_FIRE
from jetcron.web import bodies, job_notes
from jetcron.web.auth import User
from jetcron.web.gateway import Gateway, meta
from jetcron.web.http import (
    TAKES_REASON,
    JsonBody,
    caller,
    component,
    gateway,
    header_reason,
    json,
    only_reason,
    takes,
    writer,
)
from jetcron.web.problems import Problem, bad_query, not_found, window_param
from jetcron.web.timing import fire_rows, parse_stamp, planned_skips
from jetcron.web.wording import for_web, run_for_web

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])
Gw = Annotated[Gateway, Depends(gateway)]
Reader = Annotated[User, Depends(caller)]
Writer = Annotated[User, Depends(writer)]
IfMatch = Annotated[str | None, Header(description='A schedule version ("3") from its ETag.')]
STATES = ("active", "paused", "completed")
DryRun = Annotated[
    bool,
    Query(
        description="Check it as the change would be checked (the same 4xx), send nothing: 200 "
        'with {"warnings": [...]}, what the change would answer in `warnings`'
    ),
]
_FIELDS = component("ScheduleFields")
_NAMED = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "1-64 letters, digits, _ . -"},
        "paused": {"type": "boolean", "description": "Create it paused (as `export` writes)"},
        "paused_reason": {"type": "string", "description": "Why, recorded with the pause"},
    },
    "required": ["name", "spec"],
}


async def _one(
    gw: Gateway,
    name: str,
    status: int = 200,
    fires: int = 10,
    changed: bool | None = None,
    warnings: list[str] | None = None,
) -> Response:
    """The schedule as GET answers it; `changed`: whether the command it answers stored
    anything (False: the schedule already was so, as the CLI's "nothing to change");
    `warnings`: what the CLI would warn of after a create or an edit (job_notes)."""
    row: dict[str, Any] = await gw.ask("schedule", {"name": name, "fires": fires})
    if changed is not None:
        row["changed"] = changed
    if warnings is not None:
        row["warnings"] = warnings
    row["runs"] = [run_for_web(r) for r in row.get("runs", [])]
    row.update(bodies.shown_fields(row["definition"]))
    return json(run_for_web(row), status, {"ETag": bodies.etag(row["version"])})


@router.get("", summary="Schedules, filtered, a page at a time (by name)")
async def list_schedules(
    gw: Gw,
    _: Reader,
    state: Annotated[str | None, Query(description="active, paused or completed")] = None,
    tag: str | None = None,
    target: str | None = None,
    q: Annotated[str | None, Query(description="Text in name, spec, command, description")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Response:
    if state is not None and state not in STATES:
        raise Problem(400, f"unknown state {state!r}: one of {', '.join(STATES)}")
    rows: list[dict[str, Any]] = await gw.ask("schedules", {"state": state})
    kept = (r for r in rows if bodies.matches(r, tag, target, q))
    shown, next_cursor = bodies.page(kept, limit, cursor)
    return json({"schedules": [run_for_web(r) for r in shown], "next_cursor": next_cursor})


@router.post(
    "",
    status_code=201,
    summary="Create a schedule",
    openapi_extra=takes({"allOf": [_FIELDS, _NAMED]}, required=True),
)
async def create(
    request: Request, gw: Gw, user: Writer, data: JsonBody, dry_run: DryRun = False
) -> Response:
    name, definition, paused, paused_reason = bodies.new_schedule(data)
    reason = header_reason(request)
    if dry_run:
        if await _exists(gw, name):
            # why: the decider's line as the web words it (a real create answers the same)
            raise Problem(409, f"schedule {name!r} already exists: edit it instead")
        return json({"warnings": await job_notes.warnings(gw, definition)})
    try:
        await gw.send(CreateSchedule(**meta(name, user, reason), definition=definition))
    except CommandRejected as err:
        # why: a taken name is a conflict; what else the decider refuses (an @at already past)
        # is a body it cannot take
        raise Problem(409 if await _exists(gw, name) else 422, str(err)) from None
    if paused:
        # why: an exported entry says `paused`; created, then paused (as `apply -f` does), and
        # only the version just created, never a change someone made in between
        await gw.send(PauseSchedule(**meta(name, user, paused_reason or reason, 1)))
    response = await _one(gw, name, 201, warnings=await job_notes.warnings(gw, definition))
    response.headers["Location"] = f"/api/v1/schedules/{name}"
    return response


async def _exists(gw: Gateway, name: str) -> bool:
    try:
        await gw.ask("schedule", {"name": name, "fires": 0})
    except ScheduleNotFound:
        return False
    return True


@router.get("/{name}", summary="One schedule: definition, state, last runs, next fires")
async def get_schedule(
    name: str, gw: Gw, _: Reader, fires: Annotated[int, Query(ge=0, le=1000)] = 10
) -> Response:
    return await _one(gw, name, fires=fires)


@router.patch(
    "/{name}",
    summary="Change fields (merge patch: null resets a field to its default)",
    openapi_extra=takes(_FIELDS, required=True),
)
async def patch(
    name: str,
    request: Request,
    gw: Gw,
    user: Writer,
    data: JsonBody,
    if_match: IfMatch = None,
    dry_run: DryRun = False,
) -> Response:
    current = await gw.ask("schedule", {"name": name, "fires": 0})
    version = bodies.if_match(if_match)
    if version is not None and version != current["version"]:
        raise VersionMismatch.of(name, current["version"], version)  # why: the decider's line
    before = bodies.definition(current["definition"])
    change = bodies.patch(data, before)
    if dry_run:
        # why: the console asks before its reason dialog, so a refused field is said before
        # the operator types a reason, not after (newcomer18a #8); and what a save would warn
        # of, so it can ask first (nc21a #6)
        return json({"warnings": await job_notes.warnings(gw, apply_patch(before, change), before)})
    reason = header_reason(request)
    try:
        reply = await gw.send(UpdateSchedule(**meta(name, user, reason, version), patch=change))
    except (ScheduleNotFound, VersionMismatch):
        raise
    except CommandRejected as err:
        raise Problem(422, str(err)) from None  # why: what an update is refused for is its fields
    said = await job_notes.warnings(gw, apply_patch(before, change), before)
    return await _one(gw, name, changed=bool(reply.events), warnings=said)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a schedule (its history stays)",
    openapi_extra=TAKES_REASON,
)
async def delete(
    name: str, request: Request, gw: Gw, user: Writer, data: JsonBody, if_match: IfMatch = None
) -> Response:
    version = bodies.if_match(if_match)
    # why: a DELETE with {"reason": …} as pause takes it deleted without the reason
    reason = header_reason(request) or only_reason(data)
    await gw.send(DeleteSchedule(**meta(name, user, reason, version)))
    return Response(status_code=204)


async def _lifecycle(
    kind: type[PauseSchedule | ResumeSchedule], name: str, data: Any, gw: Gateway,
    user: User, if_match: str | None,
) -> Response:  # fmt: skip
    reason = only_reason(data)
    reply = await gw.send(kind(**meta(name, user, reason, bodies.if_match(if_match))))
    # why: a pause of a paused schedule stores nothing, its reason neither: say so (newcomer20a #9)
    return await _one(gw, name, changed=bool(reply.events))


@router.post("/{name}/pause", summary="Stop firing until resumed", openapi_extra=TAKES_REASON)
async def pause(
    name: str, gw: Gw, user: Writer, data: JsonBody, if_match: IfMatch = None
) -> Response:
    return await _lifecycle(PauseSchedule, name, data, gw, user, if_match)


@router.post(
    "/{name}/resume", summary="Resume (missed fires are not run)", openapi_extra=TAKES_REASON
)
async def resume(
    name: str, gw: Gw, user: Writer, data: JsonBody, if_match: IfMatch = None
) -> Response:
    return await _lifecycle(ResumeSchedule, name, data, gw, user, if_match)


@router.post(
    "/{name}/trigger",
    status_code=202,
    summary="Run now, once (also while paused)",
    openapi_extra=TAKES_REASON,
)
async def trigger(name: str, gw: Gw, user: Writer, data: JsonBody) -> Response:
    reason = only_reason(data)
    reply = await gw.send(TriggerSchedule(**meta(name, user, reason)))
    event = reply.events[0].envelope.event
    run_id = getattr(event, "run_id", "")
    return json(
        {"schedule": name, "run_id": run_id, "run": f"/api/v1/runs/{run_id}"},
        202,
        {"Location": f"/api/v1/runs/{run_id}"},
    )


@router.get("/{name}/next", summary="The next fire times, UTC and local, with DST notes")
async def next_fires(
    name: str, gw: Gw, _: Reader, n: Annotated[int, Query(ge=1, le=10_000)] = 10
) -> Response:
    row = await gw.ask("schedule", {"name": name, "fires": n})
    d = row["definition"]
    fires = [parse_stamp(f) for f in row.get("next_fires", [])[:n]]
    return json(
        {
            "schedule": name,
            "state": row["state"],
            "fires": planned_skips(fire_rows(fires, d["spec"], d.get("tz", "UTC")), row),
        }
    )


@router.get(
    "/{name}/what-if",
    summary="What a new spec or zone would have done to past fires, and the next fires (sends nothing)",
)
async def what_if(
    name: str,
    gw: Gw,
    _: Reader,
    spec: str | None = None,
    tz: str | None = None,
    window: Annotated[str, Query(description="How far back, e.g. 30d")] = "30d",
    n: Annotated[int, Query(ge=1, le=100)] = 5,
) -> Response:
    seconds = window_param(window, "window")
    timing = {k: v for k, v in (("spec", spec), ("tz", tz)) if v is not None}
    current = await gw.ask("schedule", {"name": name, "fires": 0})
    try:
        change = bodies.patch(timing, bodies.definition(current["definition"]))
    except Problem as err:
        raise Problem(400, err.detail) from None  # why: spec and tz are query parameters here
    params = {"name": name, "patch": msgspec.to_builtins(change), "window_s": seconds, "n": n}
    try:
        return json(await gw.ask("whatif", params))
    except ScheduleNotFound:
        raise
    except InvalidInput as err:
        raise bad_query(err) from None  # why: the view checks the spec and zone: the CLI's line


@router.get("/{name}/fires", summary="Every nominal fire in a window and what became of it")
async def fires(
    name: str,
    gw: Gw,
    _: Reader,
    since: str | None = None,
    until: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Response:
    return json(
        await gw.ask("fires", {"name": name, "since": since, "until": until, "limit": limit})
    )


@router.get("/{name}/why", summary="The story of one fire, each sentence with its event")
async def why(name: str, gw: Gw, _: Reader, time: str | None = None) -> Response:
    story: dict[str, Any] = await gw.ask("why", {"name": name, "time": time})
    for sentence in story.get("sentences", []):
        sentence["text"] = for_web(sentence["text"])  # why: one names `jetcron stats`
    # why: a time that is no fire time is the asker's slip (the CLI exits 2), and a query
    # parameter's slip is a 400 (problems.bad_query); the body still carries the answer,
    # with the nearest fire times
    return json(story, 400 if story.get("fate") == NOT_A_FIRE else 200)


@router.get(
    "/{name}/last-run",
    summary="The latest finished run (of a fan-out fire: the member that finished last, and "
    "the other members)",
)
async def last_run(name: str, gw: Gw, _: Reader) -> Response:
    try:
        row: dict[str, Any] = await gw.ask("last_run", {"schedule": name})
    except InvalidInput as err:
        if NO_FINISHED_RUN in str(err):
            raise not_found(str(err)) from None  # why: nothing to show, as an unknown run
        raise
    return json(run_for_web(row))


@router.get("/{name}/audit", summary="Every change of this schedule: who, when, why, diff")
async def schedule_audit(name: str, gw: Gw, _: Reader, since: str | None = None) -> Response:
    return json(await gw.ask("audit", {"name": name, "since": since}))
