"""What every route shares: JSON answers, the caller, the gateway, the JSON body."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import Depends, Request
from fastapi.responses import Response

from jetcron.domain import jsontext
from jetcron.domain.errors import CommandRejected
from jetcron.domain.fields import did_you_mean
from jetcron.domain.validation import MAX_DEFINITION_BYTES, validate_line
from jetcron.web.auth import User
from jetcron.web.gateway import Gateway
from jetcron.web.problems import Problem, json_object

_encoder = msgspec.json.Encoder()


def json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer encoded by msgspec (datetimes as ISO-8601, Structs as objects)."""
    return Response(_encoder.encode(data), status, headers, media_type="application/json")


def gateway(request: Request) -> Gateway:
    """The app's gateway (one per process)."""
    gw: Gateway = request.app.state.gateway
    return gw


def caller(request: Request) -> User:
    """The authenticated user: 401 without a (known) bearer token when tokens are configured."""
    gw = gateway(request)
    if not gw.tokens.configured:
        # why: no tokens means the gateway is bound to localhost only (checked at start-up)
        return User(name=gw.local_user, role="admin")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "a bearer token is required: send Authorization: Bearer <token>")
    user = gw.tokens.user(token.strip())
    if user is None:
        raise Problem(401, "unknown token")
    return user


def writer(user: Annotated[User, Depends(caller)]) -> User:
    """The caller, if it may change things: 403 for an auditor."""
    if not user.can_write:
        raise Problem(
            403, f"{user.name} is an {user.role}: read-only, changes need operator or admin"
        )
    return user


MAX_BODY = 1024 * 1024
"""The largest JSON body taken: a schedule is at most validation.MAX_DEFINITION_BYTES."""


async def body(request: Request) -> Any:
    """The JSON body (an empty body is {}); 400 for malformed JSON, 422 for a key given twice,
    413 for a body larger than MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large(int(declared))
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise _too_large(len(raw))
    if not raw.strip():
        return {}
    try:
        return jsontext.decode(raw)
    except msgspec.DecodeError as err:
        raise Problem(400, f"malformed JSON body: {jsontext.problem(err, raw)}") from None
    except jsontext.DuplicateKey as err:
        raise Problem(422, str(err)) from None


def _too_large(size: int) -> Problem:
    return Problem(
        413,
        f"the body is {size} bytes, more than this API takes ({MAX_BODY}); a schedule's "
        f"definition is at most {MAX_DEFINITION_BYTES} bytes as JSON",
    )


JsonBody = Annotated[Any, Depends(body)]
"""The JSON body of a route that takes one; such a route lists it in OpenAPI with `takes`
(tests/web walks the routes: one that reads a body and does not list it fails). Put it after
the caller: dependencies resolve in order, and a stranger's bad JSON is a 401, not a 400."""


def takes(schema: dict[str, Any], *, required: bool = False, example: Any = None) -> dict[str, Any]:
    """The `openapi_extra` of a route whose JSON body has this schema (the routes read the body
    themselves, to check it with the CLI's rules, so FastAPI cannot see it)."""
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"requestBody": {"required": required, "content": {"application/json": media}}}


def component(name: str) -> dict[str, str]:
    """A reference to a schema the app adds to the document's components (app.SCHEMAS)."""
    return {"$ref": f"#/components/schemas/{name}"}


TAKES_REASON = takes(
    {
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "Recorded in the audit"}},
        "additionalProperties": False,
    }
)
"""The optional body of pause, resume, trigger, cancel, health/ack and DELETE: a reason."""


def reason_of(data: Any) -> str:
    """The optional `reason` of an action body."""
    reason = data.get("reason", "") if isinstance(data, dict) else ""
    if not isinstance(reason, str):
        raise Problem(422, "reason: expected a string")
    return _one_line(reason)


def _one_line(reason: str) -> str:
    """A reason the service would refuse (a control character) as a 422 before it is sent."""
    try:
        return validate_line(reason, "the reason")
    except CommandRejected as err:
        raise Problem(422, str(err)) from err


def only_reason(data: Any) -> str:
    """The `reason` of a body that holds nothing else (pause, resume, trigger, cancel): a
    misspelt or stray key is a 422 naming it, not a change made without the reason meant."""
    for key in sorted(json_object(data, 'like {"reason": "..."}')):
        if key != "reason":
            raise Problem(
                422,
                f"{key}: no such field{did_you_mean(key, ['reason'])}; this body takes only reason",
            )
    return reason_of(data)


def header_reason(request: Request) -> str:
    """The reason of a create, PATCH or DELETE (their bodies are the schedule): the `reason`
    query parameter (any text) or an `X-Reason` header."""
    return _one_line(request.query_params.get("reason") or request.headers.get("x-reason", ""))
