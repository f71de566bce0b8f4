"""The refusals a client was told of (pure: the error texts nats-py hands its error callback)."""

from __future__ import annotations

import asyncio

import pytest

from jetcron.errors import NotPermitted
from jetcron.log.refusals import Refusals, described, not_permitted, recased


def violation(op: str, subject: str) -> Exception:
    # nats-py lowercases the whole -ERR line
    return Exception(f'nats: permissions violation for {op} to "{subject.lower()}"')


def test_a_violation_is_recorded_and_found_after_a_mark() -> None:
    r = Refusals()
    assert r.note(Exception("nats: slow consumer")) is False and r.count == 0
    mark = r.count
    r.note(violation("publish", "jetcron.q.schedules"))
    r.note(violation("subscription", "jetcron.run.>"))
    found = r.since(mark, "jetcron.q.schedules")
    assert found is not None and found.op == "publish"
    assert r.since(r.count, "jetcron.q.schedules") is None  # nothing after the last one
    assert r.since(mark, "jetcron.q.runs") is None


def test_a_tolerated_refusal_ends_nothing_and_its_kind_is_not_tried_again() -> None:
    r = Refusals()
    delete = "$JS.API.CONSUMER.DELETE.JETCRON.abc"
    assert r.tolerate(delete) is True
    assert r.note(violation("publish", delete)) is True  # handled: no log line
    assert r.count == 0  # and no failure for whoever waits
    assert r.tolerate("$JS.API.CONSUMER.DELETE.JETCRON.other") is False


async def test_next_wakes_a_waiter_and_the_error_says_what_and_where() -> None:
    r = Refusals()
    waiter = asyncio.ensure_future(r.next())
    await asyncio.sleep(0)
    assert r.note(violation("publish", "$JS.API.STREAM.INFO.KV_jetcron_secrets")) is True
    refusal = await waiter
    with pytest.raises(NotPermitted) as err:
        raise not_permitted(refusal)
    assert str(err.value).startswith(
        "not permitted: putting job secrets: your NATS user may not publish to "
        "$JS.API.STREAM.INFO.KV_jetcron_secrets"
    )


@pytest.mark.parametrize(
    ("said", "subject"),
    [
        ("$js.api.consumer.info.jetcron.pool-host-b", "$JS.API.CONSUMER.INFO.JETCRON.pool-host-b"),
        ("$kv.jetcron_executors.other", "$KV.jetcron_executors.other"),
        ("$js.api.stream.info.obj_jetcron_snapshots", "$JS.API.STREAM.INFO.OBJ_jetcron_snapshots"),
        ("jetcron.q.info", "jetcron.q.info"),
    ],
)
def test_a_subject_gets_back_the_case_of_the_api_tokens(said: str, subject: str) -> None:
    assert recased(said) == subject


def test_a_subscription_refusal_is_described_as_one() -> None:
    r = Refusals()
    r.note(violation("subscription", "jetcron.trigger.>"))
    assert described(r.seen[0]) == "subscribing to jetcron.trigger.>"
