"""/api/v1/notifications: list, add, remove, test: the commands `jetcron notify` sends."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from jetcron import client
from jetcron.domain.commands import AddNotification, RemoveNotification, SendTestNotification
from jetcron.domain.errors import CommandRejected, NotificationNotFound
from jetcron.domain.notifications import (
    SinkOptions,
    missing_schedule,
    validate_notification_name,
)
from jetcron.errors import InvalidInput
from jetcron.web.auth import User
from jetcron.web.gateway import Gateway, meta
from jetcron.web.http import (
    JsonBody,
    caller,
    component,
    gateway,
    header_reason,
    json,
    takes,
    writer,
)
from jetcron.web.problems import Problem, invalid

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
Gw = Annotated[Gateway, Depends(gateway)]
Reader = Annotated[User, Depends(caller)]
Writer = Annotated[User, Depends(writer)]
TEST_WAIT_S = 15.0
"""How long POST .../test waits for the leader's delivery (what `notify test` waits)."""


class NotificationBody(SinkOptions):
    """A POST body: `notify add`'s options by their long names (`schedules`, `tags` plural),
    and the sink's name."""

    name: str


_BODY = takes(
    component("NotificationBody"),
    required=True,
    example={"name": "ops", "webhook": "https://hooks.example/x", "on": ["failure"]},
)


def _name(name: str) -> str:
    try:
        return validate_notification_name(name)
    except CommandRejected as err:
        raise invalid(err) from None


@router.get("", summary="Notifications, their rules and delivery record (secrets left out)")
async def list_notifications(gw: Gw, _: Reader) -> Response:
    return json(await gw.ask("notifications"))


@router.post("", status_code=201, summary="Add a notification sink", openapi_extra=_BODY)
async def add(request: Request, gw: Gw, user: Writer, data: JsonBody) -> Response:
    try:
        given = msgspec.convert(data, NotificationBody)
        notification = given.notification(given.name)
    except (msgspec.ValidationError, InvalidInput) as err:
        raise invalid(err) from None
    if notification.schedules and not given.allow_missing:
        live = [row["name"] for row in await gw.ask("schedules")]
        if problem := missing_schedule(notification, live):
            raise Problem(
                422,
                f'schedules: {problem}; "allow_missing": true adds a rule for one still to come',
            )
    if notification.sink.command and user.role != "admin":
        # why: as NATS roles do (auth/roles.py): a command sink runs as the scheduler's OS user
        raise Problem(
            403,
            f"{user.name} is an {user.role}: a command sink needs admin (it runs on the "
            "scheduler's host as its user)",
        )
    command = AddNotification(
        **meta(notification.name, user, header_reason(request)), notification=notification
    )
    try:
        reply = await client.add_notification(gw.nc, command)
    except NotificationNotFound:
        raise
    except CommandRejected as err:
        raise Problem(409, str(err)) from None  # why: checked above; what is left is a taken name
    name = notification.name
    return json(
        {"name": name, "seq": int(reply.events[0].seq)},
        201,
        {"Location": f"/api/v1/notifications/{name}"},
    )


@router.delete("/{name}", status_code=204, summary="Remove a notification (deliveries stay)")
async def remove(name: str, request: Request, gw: Gw, user: Writer) -> Response:
    await gw.send(RemoveNotification(**meta(_name(name), user, header_reason(request))))
    return Response(status_code=204)


@router.post(
    "/{name}/test",
    summary="Have the scheduler leader send a test message and wait for how it went",
)
async def test(name: str, gw: Gw, user: Writer) -> Response:
    command = SendTestNotification(**meta(_name(name), user))
    ok, text = await client.test_notification(gw.nc, command, TEST_WAIT_S)
    if not ok:
        # why: the sink (or the leader) failed, not the request: a bad gateway, with its line
        status = 502 if text.startswith("failed") else 504
        raise Problem(status, text)
    return json({"name": name, "delivered": True, "detail": text})
