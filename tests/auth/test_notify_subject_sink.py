"""A `--subject` sink under roles: a publish the scheduler's permissions refuse is a failed
delivery, never a silent one (the server drops it with only an asynchronous error)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from secured import Secured, started

from jetcron.domain.notifications import Notification, Sink
from jetcron.notify import sinks


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    yield from started(tmp_path)


async def test_a_refused_subject_publish_fails_the_delivery(sec: Secured) -> None:
    nc = await sec.client("scheduler")
    outside = Notification(name="bus", sink=Sink(subject="ops.alerts"))
    with pytest.raises(sinks.SendFailed, match="publish to ops.alerts: the scheduler's NATS user"):
        await sinks.send(nc, outside, b"{}", "d1", 0)
    # the same connection still delivers where it may publish
    inside = Notification(name="bus", sink=Sink(subject="jetcron.alerts.ops"))
    got = await nc.subscribe("jetcron.alerts.ops")
    await sinks.send(nc, inside, b"{}", "d2", 0)
    assert (await got.next_msg(timeout=2)).data == b"{}"
    await nc.close()
