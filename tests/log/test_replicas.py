"""A query whose queue-group request lands on a silent member is answered by a replica that
answers discovery; the choices behind it (when to ask, whom, what to say) are pure."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service, ServiceConfig

from jetcron import subjects
from jetcron.errors import NoAnswerInTime, ServiceUnavailable
from jetcron.log.replicas import (
    HEDGE_AFTER_S,
    PING_TYPE,
    ask,
    hedge_after,
    pinned,
    replica_of,
    silence,
)


@pytest.mark.parametrize(
    ("timeout", "after"),
    [(5.0, HEDGE_AFTER_S), (30.0, HEDGE_AFTER_S), (2.0, 2 / 3), (0.3, 0.1)],
    ids=["default", "long", "conflicts-warning", "tiny"],
)
def test_the_queue_group_has_a_first_budget_a_third_of_the_timeout_at_most(
    timeout: float, after: float
) -> None:
    assert hedge_after(timeout) == pytest.approx(after)
    assert hedge_after(timeout, "schedules") == pytest.approx(after)


def test_the_state_is_never_asked_twice() -> None:
    # why: a large answer is an object in the snapshot store; a second one is waste
    assert hedge_after(5.0, "state") is None


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


@pytest.mark.parametrize(
    ("pin", "now", "first"),
    [(None, 5.0, None), (("Abc", 10.0), 5.0, "Abc"), (("Abc", 10.0), 10.0, None)],
    ids=["none", "lasting", "ended"],
)
def test_a_pin_sends_a_connection_to_its_replica_until_it_ends(
    pin: tuple[str, float] | None, now: float, first: str | None
) -> None:
    assert pinned(pin, now) == first


def test_silence_says_who_was_asked() -> None:
    assert "nor a discovery ping: all are busy, stalled or frozen; try" in silence(None, False)
    assert "replica Abc (alive a moment before)" in silence("Abc", True)
    assert "too late to be asked" in silence("Abc", False)
    assert "neither replica Old nor replica Abc" in silence("Abc", True, "replica Old")


async def test_a_silent_queue_member_costs_one_hedge_never_an_answer(nc: Client) -> None:
    await nc.subscribe(subjects.query("runs"), queue=subjects.QUERY_SERVICE, cb=_ignore)
    await _replica(nc)
    took: list[float] = []
    # why: the server picks a member at random; both kinds must occur for a proof (30 tries:
    # a one-in-2^29 chance that they do not)
    while len(took) < 30 and not (took and min(took) < 0.2 and max(took) >= HEDGE_AFTER_S):
        start = time.monotonic()
        msg = await ask(nc, "runs", b"{}", "query `runs`", 3.0)
        took.append(time.monotonic() - start)
        assert msg.data == b'"answered"'
    assert max(took) < HEDGE_AFTER_S + 0.5, took
    assert min(took) < 0.2 and max(took) >= HEDGE_AFTER_S, took


async def test_after_a_hedge_the_connection_asks_the_live_replica_first(nc: Client) -> None:
    await nc.subscribe(subjects.query("runs"), queue=subjects.QUERY_SERVICE, cb=_ignore)
    service = await _replica(nc, shared=False)
    assert (await ask(nc, "runs", b"{}", "query `runs`", 3.0)).data == b'"answered"'
    start = time.monotonic()
    for _ in range(5):
        assert (await ask(nc, "runs", b"{}", "query `runs`", 3.0)).data == b'"answered"'
    assert time.monotonic() - start < 0.5  # why: no hedge's wait: all went to the pinned one

    await service.stop()  # the pinned replica goes: the group is asked (silent: a hedge, none)
    with pytest.raises(NoAnswerInTime, match="no replica .* nor a discovery ping"):
        await ask(nc, "runs", b"{}", "query `runs`", 0.6)


async def test_the_state_waits_for_the_queue_group_alone(nc: Client) -> None:
    await nc.subscribe(subjects.query("state"), queue=subjects.QUERY_SERVICE, cb=_ignore)
    await _replica(nc)  # why: alive, yet never asked: `state` is not hedged
    with pytest.raises(NoAnswerInTime, match="within 0.6s; the service is busy or stalled"):
        await ask(nc, "state", b"{}", "query `state`", 0.6)


async def test_no_replica_at_all_is_said_at_once(nc: Client) -> None:
    with pytest.raises(ServiceUnavailable, match="start one with `jetcron up`"):
        async with asyncio.timeout(1):
            await ask(nc, "runs", b"{}", "query `runs`", 3.0)


async def test_every_member_silent_names_the_silence(nc: Client) -> None:
    await nc.subscribe(subjects.query("runs"), queue=subjects.QUERY_SERVICE, cb=_ignore)
    with pytest.raises(NoAnswerInTime, match="within 0.6s; no replica .* nor a discovery ping"):
        await ask(nc, "runs", b"{}", "query `runs`", 0.6)


async def test_a_replica_alive_for_discovery_but_silent_to_queries_is_not_the_only_one_asked(
    nc: Client,
) -> None:
    """newcomer17b: "neither the queue group nor replica X (alive a moment before) answered"
    while another replica was fine: the hedge asked only the first to answer discovery."""
    await nc.subscribe(subjects.query("runs"), queue=subjects.QUERY_SERVICE, cb=_ignore)
    await _discoverable(nc, "Stalled", delay=0.0, answers=False)  # first to answer discovery
    await _discoverable(nc, "Fine", delay=0.1, answers=True)
    for _ in range(3):
        msg = await ask(nc, "runs", b"{}", "query `runs`", 3.0)
        assert msg.data == b'"answered"'


async def test_no_discovered_replica_answering_names_them_all(nc: Client) -> None:
    await nc.subscribe(subjects.query("runs"), queue=subjects.QUERY_SERVICE, cb=_ignore)
    await _discoverable(nc, "One", delay=0.0, answers=False)
    await _discoverable(nc, "Two", delay=0.05, answers=False)
    with pytest.raises(NoAnswerInTime, match="nor replica One, Two .alive a moment before."):
        await ask(nc, "runs", b"{}", "query `runs`", 1.5)


async def _discoverable(nc: Client, replica: str, *, delay: float, answers: bool) -> None:
    """A replica that answers discovery after `delay` and `runs` on its own subject (or not)."""

    async def ping(msg: Msg) -> None:
        await asyncio.sleep(delay)
        body = {"type": PING_TYPE, "name": subjects.QUERY_SERVICE, "id": replica}
        await msg.respond(json.dumps(body).encode())

    async def query(msg: Msg) -> None:
        if answers:
            await msg.respond(b'"answered"')

    await nc.subscribe(subjects.service_ping(subjects.QUERY_SERVICE), cb=ping)
    await nc.subscribe(subjects.replica_query(replica, "runs"), cb=query)


async def _replica(nc: Client, *, shared: bool = True) -> Service:
    """A query service replica that answers `runs` on its own subject (and in the queue group)."""
    service = await add_service(
        nc,
        ServiceConfig(
            name=subjects.QUERY_SERVICE, version="1.0.0", queue_group=subjects.QUERY_SERVICE
        ),
    )

    async def answer(req: Request) -> None:
        await req.respond(b'"answered"')

    own = f"{subjects.REPLICA_QUERIES}.{service.id}"
    for group in (subjects.QUERIES, own) if shared else (own,):
        await service.add_group(name=group).add_endpoint(name="runs", handler=answer)
    return service


async def _ignore(msg: object) -> None:
    """Take the request, answer nothing (a frozen replica's share)."""
