"""/api/v1/runs: list (keyset cursor), get, output (JSON or a download), cancel."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from jetcron.domain.commands import CancelRun
from jetcron.domain.runs import RunStatus, truncation
from jetcron.web import bodies
from jetcron.web.auth import User
from jetcron.web.gateway import Gateway, meta
from jetcron.web.http import TAKES_REASON, JsonBody, caller, gateway, json, only_reason, writer
from jetcron.web.problems import Problem
from jetcron.web.wording import run_for_web

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
Gw = Annotated[Gateway, Depends(gateway)]
Reader = Annotated[User, Depends(caller)]
Writer = Annotated[User, Depends(writer)]
STATUSES: tuple[str, ...] = get_args(RunStatus)
TRUNCATED = "Jetcron-Truncated"
"""The header of a download the executor capped: `[stdout truncated: 65,536 of … bytes kept]`."""


def _cursor(before: list[str] | None) -> str | None:
    return None if before is None else bodies.encode_cursor(msgspec.json.encode(before))


def _before(cursor: str | None) -> list[str] | None:
    if not cursor:
        return None
    try:
        before = msgspec.json.decode(bodies.decode_cursor(cursor))
    except msgspec.DecodeError:
        before = None
    if not isinstance(before, list):
        raise Problem(400, f"invalid cursor {cursor!r}: use next_cursor of the previous page")
    return [str(v) for v in before]


@router.get("", summary="Runs, newest first, a page at a time")
async def list_runs(
    gw: Gw,
    _: Reader,
    schedule: str | None = None,
    status: Annotated[list[str] | None, Query(description=f"One of {', '.join(STATUSES)}")] = None,
    since: Annotated[
        str | None, Query(description="Only runs fired at or after: ISO, or a duration back (2h)")
    ] = None,
    until: Annotated[
        str | None, Query(description="Only runs fired at or before: ISO, or a duration back")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    current: Annotated[
        bool,
        Query(
            description="With schedule: only the live schedule's runs, not those of an earlier "
            "schedule of that name (which otherwise come marked `previous`)"
        ),
    ] = False,
) -> Response:
    for s in status or []:
        if s not in STATUSES:
            raise Problem(400, f"unknown status {s!r}: one of {', '.join(STATUSES)}")
    params: dict[str, Any] = dict(
        schedule=schedule, status=status or None, since=since, until=until
    )
    if current:
        params["current"] = True
    page = await gw.ask("runs", dict(params, limit=limit, before=_before(cursor)))
    runs = [run_for_web(r) for r in page["runs"]]
    return json({"runs": runs, "next_cursor": _cursor(page.get("next_before"))})


@router.get("/{run_id}", summary="One run (by id or a unique prefix)")
async def get_run(run_id: str, gw: Gw, _: Reader) -> Response:
    return json(run_for_web(await gw.run(run_id)))


@router.get("/{run_id}/output", summary="A run's output: JSON, or one stream as a download")
async def output(
    run_id: str,
    gw: Gw,
    _: Reader,
    download: Annotated[
        Literal["stdout", "stderr"] | None, Query(description="Send this stream as a text file")
    ] = None,
) -> Response:
    row = await gw.run(run_id)
    out = await gw.output(row)
    # why: "truncated" alone does not say how much was kept of how much (nc21a #14); the
    # CLI's marker, one rule (domain.runs.truncation)
    notes = {f"{s}_note": n for s in ("stdout", "stderr") if (n := truncation(out, s))}
    if download is None:
        return json(dict(out, run_id=row["run_id"], status=row["status"], **notes))
    filename = f"{row['schedule']}-{row['run_id'][:8]}.{download}.txt"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if f"{download}_note" in notes:
        # why a header, not a line in the file: the file is the job's own bytes, as the
        # CLI's `runs logs` keeps stdout the job's own and says the marker on stderr
        headers[TRUNCATED] = notes[f"{download}_note"]
    return Response(out.get(download, ""), media_type="text/plain; charset=utf-8", headers=headers)


@router.post(
    "/{run_id}/cancel",
    status_code=202,
    summary="Stop a run (its executor kills the job)",
    openapi_extra=TAKES_REASON,
)
async def cancel(run_id: str, gw: Gw, user: Writer, data: JsonBody) -> Response:
    reason = only_reason(data)
    row = await gw.run(run_id)
    await gw.send(CancelRun(**meta(row["schedule"], user, reason), run_id=row["run_id"]))
    return json({"run_id": row["run_id"], "schedule": row["schedule"], "cancel": "requested"}, 202)
