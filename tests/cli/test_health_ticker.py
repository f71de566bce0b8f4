"""`jetcron health` says when no scheduler is ticking: nobody holds the ticker lease, so nothing
fires; it says since when and why this replica cannot take it, and turns green when one does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import nats
import pytest
from served import cli, scheduler_in_thread

from jetcron import service, subjects
from jetcron.log.lease import KvLease


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    yield from scheduler_in_thread(nats_url, service.ServiceConfig(lease_ttl_s=1))


def lease_bucket(url: str, *, gone: bool) -> None:
    """Delete the lease bucket (no replica can take the lease), or create it again."""

    async def go() -> None:
        nc = await nats.connect(url)
        if gone:
            await nc.jetstream().delete_stream(subjects.kv_stream(subjects.LEASE_BUCKET))
        else:
            await KvLease(nc, holder="test").ensure_bucket()
        await nc.close()

    asyncio.run(go())


def health_until(url: str, code: int, within: float = 10.0) -> dict[str, object]:
    deadline = time.monotonic() + within
    while True:
        result = cli(url, "health", "--json")
        if result.exit_code == code or time.monotonic() > deadline:
            assert result.exit_code == code, result.output
            return json.loads(result.stdout)  # type: ignore[no-any-return]
        time.sleep(0.2)


def test_no_ticker_leader_is_a_problem_until_a_scheduler_holds_the_lease(scheduler: str) -> None:
    at_start = cli(scheduler, "health")
    lease_bucket(scheduler, gone=True)
    report = health_until(scheduler, 1)
    text = cli(scheduler, "health")
    lease_bucket(scheduler, gone=False)
    again = health_until(scheduler, 0)

    assert (at_start.exit_code, at_start.stdout) == (0, "healthy\n")
    [problem] = report["problems"]  # type: ignore[misc]
    assert problem["kind"] == "no_ticker_leader" and problem["subject"] == "scheduler"
    assert problem["since"].endswith("Z")
    detail = problem["detail"]
    assert detail.startswith(
        "no scheduler is ticking (nobody holds the ticker lease; last held at about "
    )
    assert "), so nothing fires; this replica cannot take it: " in detail
    assert text.exit_code == 1 and "no ticker leader" in text.stdout, text.stdout
    assert again["healthy"] is True


def test_with_the_scheduler_down_health_is_unreachable_and_says_nothing_ticks(
    nats_url: str,
) -> None:
    for _ in scheduler_in_thread(nats_url, service.ServiceConfig(lease_ttl_s=1)):
        up = cli(nats_url, "health")
    stopped = datetime.now(UTC).replace(microsecond=0)
    down = cli(nats_url, "health")
    report = json.loads(cli(nats_url, "health", "--json").stdout)

    assert (up.exit_code, up.stdout) == (0, "healthy\n")
    assert down.exit_code == 3 and down.stderr.startswith("unreachable: no jetcron service"), (
        down.stderr
    )
    line = down.stderr.splitlines()[-1]
    assert line.startswith(
        "no scheduler is ticking (nobody holds the ticker lease; last held at about "
    )
    assert line.endswith("), so nothing fires"), line
    [problem] = report["problems"]
    assert problem["kind"] == "no_ticker_leader"
    assert abs(datetime.fromisoformat(problem["since"]) - stopped) < timedelta(seconds=3)
