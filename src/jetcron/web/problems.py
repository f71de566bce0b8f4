"""Errors as RFC 9457 problem details (application/problem+json) with the CLI's messages."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from jetcron.domain.errors import (
    CalendarNotFound,
    CommandRejected,
    NotificationNotFound,
    ScheduleNotFound,
    VersionMismatch,
)
from jetcron.errors import InfrastructureError, InvalidInput, JetcronError, NotPermitted
from jetcron.web.wording import for_web

MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An HTTP error answer: status, the one line the CLI would print (worded for the web
    where it names a CLI command), and extra members."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        self.status, self.detail, self.extra = status, detail, extra
        super().__init__(detail)

    def body(self, instance: str) -> dict[str, Any]:
        """The problem+json document."""
        return {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": for_web(self.detail),
            "instance": instance,
            **self.extra,
        }

    def response(self, instance: str, headers: dict[str, str] | None = None) -> JSONResponse:
        """The problem+json answer (a 401 says which scheme to use; a 405 gives `Allow`)."""
        if self.status == 401:
            headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
        return JSONResponse(self.body(instance), self.status, headers, media_type=MEDIA_TYPE)


def status_of(err: JetcronError) -> int:
    """The HTTP status of a jetcron error raised by a command or a query.

    Input that a body carried is checked before it is sent (422, see `invalid`); what the
    service still refuses is a conflict with the schedule's state (409).
    """
    if isinstance(err, ScheduleNotFound | NotificationNotFound | CalendarNotFound):
        return 404
    if isinstance(err, VersionMismatch):
        return 412
    if isinstance(err, CommandRejected):
        return 409
    if isinstance(err, InvalidInput):
        return 400
    if isinstance(err, NotPermitted):
        return 403  # why: the server refused this identity; retrying never helps (not 503)
    if isinstance(err, InfrastructureError):
        return 503
    return 500


def problem_of(err: JetcronError) -> Problem:
    """The Problem for a jetcron error."""
    return err if isinstance(err, Problem) else Problem(status_of(err), str(err))


def invalid(err: Exception) -> Problem:
    """422: a body that is well-formed JSON but says something jetcron cannot take."""
    return Problem(422, str(err))


def json_object(data: Any, holding: str) -> dict[str, Any]:
    """The body, if it is a JSON object; else 422 saying what it should hold.

    why 422 for every body: well-formed JSON of the wrong shape is content jetcron cannot
    take, as a wrong field is (400 is for JSON that does not parse: `http.body`).
    """
    if not isinstance(data, dict):
        raise Problem(422, f"the body must be a JSON object {holding}")
    return data


def bad_query(err: Exception) -> Problem:
    """400: a query parameter jetcron cannot take, in its form or in what it says (a spec that
    does not parse, a window of 0s, a time that is no fire time).

    why one status for every query parameter: it is part of the request's address, not of its
    content (RFC 9110: 422 is for content), and a client tells a bad address from a bad body
    by the status alone; 422 stays for bodies (`invalid`).
    """
    return Problem(400, str(err))


def window_param(text: str, name: str) -> float:
    """A window or look-ahead query parameter in seconds; 400 naming it, by the CLI's rule."""
    from jetcron.domain.durations import window_seconds

    try:
        return window_seconds(text, name)
    except InvalidInput as err:
        raise bad_query(err) from None


_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "less_than_equal": ("le", "at most"),
    "greater_than": ("gt", "more than"),
    "less_than": ("lt", "less than"),
}
_KINDS = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "give true or false",
}


def parameter_problem(error: dict[str, Any]) -> str:
    """One of FastAPI's (pydantic's) errors of a query parameter or header in jetcron's words,
    naming the parameter and what it was given: `limit: 0: must be at least 1`, not "Input
    should be greater than or equal to 1"."""
    name = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
    kind, given = error.get("type", ""), error.get("input")
    if kind == "missing":
        return f"{name}: required"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"{name}: {given}: must be {words} {error.get('ctx', {}).get(key)}"
    if kind in _KINDS:
        return f"{name}: {given!r}: {_KINDS[kind]}"
    if kind == "literal_error":
        return f"{name}: {given!r}: use {error.get('ctx', {}).get('expected')}"
    return f"{name}: {given!r}: {str(error.get('msg', 'invalid')).lower()}"


def method_problem(method: str, path: str, allow: str) -> Problem:
    """405 naming the method and the ones the path takes (the `Allow` header says them too)."""
    return Problem(405, f"{method} is not allowed on {path}: use {allow or 'nothing'}")


def not_found(detail: str) -> Problem:
    """404 with the CLI's message."""
    return Problem(404, detail)
