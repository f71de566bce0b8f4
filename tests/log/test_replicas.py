"""A query whose queue-group request lands on a silent member is answered by a replica that
answers discovery; the choices behind it (when to ask, whom, what to say) are pure."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import ServiceConfig

from jetcron import subjects
from jetcron.errors import NoAnswerInTime, ServiceUnavailable
from jetcron.log.replicas import HEDGE_AFTER_S, PING_TYPE, ask, hedge_after, replica_of, silence


@pytest.mark.parametrize(
    ("timeout", "after"),
    [(5.0, HEDGE_AFTER_S), (30.0, HEDGE_AFTER_S), (2.0, 2 / 3), (0.3, 0.1)],
    ids=["default", "long", "conflicts-warning", "tiny"],
)
def test_the_queue_group_has_a_first_budget_a_third_of_the_timeout_at_most(
    timeout: float, after: float
) -> None:
    assert hedge_after(timeout) == pytest.approx(after)


def _ping(**fields: object) -> bytes:
    base = {"type": PING_TYPE, "name": subjects.QUERY_SERVICE, "id": "Abc123", "version": "1"}
    return json.dumps(base | fields).encode()


@pytest.mark.parametrize(
    ("data", "replica"),
    [
        (_ping(), "Abc123"),
        (_ping(name="other-service"), None),
        (_ping(type="io.nats.micro.v1.info_response"), None),
        (_ping(id="a.b"), None),
        (_ping(id="a*"), None),
        (_ping(id=""), None),
        (_ping(id=7), None),
        (b"[]", None),
        (b"not json", None),
    ],
    ids=["ok", "other-service", "not-a-ping", "dot", "wildcard", "empty", "number", "list", "junk"],
)
def test_only_a_query_service_ping_with_a_usable_id_names_a_replica(
    data: bytes, replica: str | None
) -> None:
    assert replica_of(data) == replica


def test_silence_says_who_was_asked() -> None:
    assert "nor a discovery ping: all are busy, stalled or frozen; try" in silence(None, False)
    assert "replica Abc (alive a moment before)" in silence("Abc", True)
    assert "too late to be asked" in silence("Abc", False)


async def test_a_silent_queue_member_costs_one_hedge_never_an_answer(nc: Client) -> None:
    await nc.subscribe(subjects.query("runs"), queue=subjects.QUERY_SERVICE, cb=_ignore)
    await _replica(nc)
    took: list[float] = []
    # why: the server picks a member at random; both kinds must occur for a proof (30 tries:
    # a one-in-2^29 chance that they do not)
    while len(took) < 30 and not (took and min(took) < 0.2 and max(took) >= hedge_after(3.0)):
        start = time.monotonic()
        msg = await ask(nc, "runs", b"{}", "query `runs`", 3.0)
        took.append(time.monotonic() - start)
        assert msg.data == b'"answered"'
    assert max(took) < hedge_after(3.0) + 0.5, took
    assert min(took) < 0.2 and max(took) >= hedge_after(3.0), took


async def test_no_replica_at_all_is_said_at_once(nc: Client) -> None:
    with pytest.raises(ServiceUnavailable, match="start one with `jetcron up`"):
        async with asyncio.timeout(1):
            await ask(nc, "runs", b"{}", "query `runs`", 3.0)


async def test_every_member_silent_names_the_silence(nc: Client) -> None:
    await nc.subscribe(subjects.query("runs"), queue=subjects.QUERY_SERVICE, cb=_ignore)
    with pytest.raises(NoAnswerInTime, match="within 0.6s; no replica .* nor a discovery ping"):
        await ask(nc, "runs", b"{}", "query `runs`", 0.6)


async def _replica(nc: Client) -> None:
    """A query service replica that answers `runs` in the queue group and on its own subject."""
    service = await add_service(
        nc,
        ServiceConfig(
            name=subjects.QUERY_SERVICE, version="1.0.0", queue_group=subjects.QUERY_SERVICE
        ),
    )

    async def answer(req: Request) -> None:
        await req.respond(b'"answered"')

    for group in (subjects.QUERIES, f"{subjects.REPLICA_QUERIES}.{service.id}"):
        await service.add_group(name=group).add_endpoint(name="runs", handler=answer)


async def _ignore(msg: object) -> None:
    """Take the request, answer nothing (a frozen replica's share)."""
