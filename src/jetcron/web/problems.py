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

    def response(self, instance: str) -> JSONResponse:
        """The problem+json answer (a 401 says which scheme to use)."""
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
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


def window_param(text: str, name: str) -> float:
    """A window or look-ahead query parameter in seconds; 422 naming it, by the CLI's rule."""
    from jetcron.domain.durations import window_seconds

    try:
        return window_seconds(text, name)
    except InvalidInput as err:
        raise invalid(err) from None


def not_found(detail: str) -> Problem:
    """404 with the CLI's message."""
    return Problem(404, detail)
