"""A claim stored whose ack was lost: its job never started, and the run records that
(`run.handed_back`) whether the trigger comes back to the same executor or the executor was
restarted meanwhile (the journal keeps it: Journal.not_started).

A real nats-server and real executors; the one fault injected is the lost ack: the claim is
appended for real, then the executor is told it failed, as when NATS goes away before its ack.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from test_agent import config, events, kinds, publish, sh, trigger, wait_for

from jetcron.domain.events import RunHandedBack
from jetcron.executors.agent import Executor
from jetcron.log.stream import EventLog

RUN_AGAIN = ["RunStarted", "RunHandedBack", "RunStarted", "RunSucceeded"]


def ack_lost_once(executor: Executor) -> list[int]:
    """The executor's first claim is stored, then fails as if its ack never came; the count."""
    claim, calls = executor.runs_log.claim, [0]

    async def lost(*args: Any, **kwargs: Any) -> None:
        await claim(*args, **kwargs)
        calls[0] += 1
        if calls[0] == 1:
            raise NatsTimeout

    executor.runs_log.claim = lost  # type: ignore[method-assign]
    return calls


async def test_the_redelivery_records_the_hand_back(
    nc: Client, event_log: EventLog, tmp_path: Path
) -> None:
    t = trigger(sh("true"))
    await publish(event_log, t)
    executor = Executor(nc, config(journal_dir=str(tmp_path / "journal")))
    ack_lost_once(executor)
    await executor.run_burst(12)
    evs = await events(event_log, t)
    assert kinds(evs) == RUN_AGAIN
    handed = evs[1]
    assert isinstance(handed, RunHandedBack) and handed.attempt == 1
    assert handed.reason.startswith("its claim was not confirmed (NATS was away: ")
    assert not list((tmp_path / "journal").glob("[!.]*"))  # settled, nothing left


async def test_a_restarted_executor_records_the_hand_back(
    nc: Client, event_log: EventLog, tmp_path: Path
) -> None:
    """Before, the unconfirmed claim lived in the executor's memory: after a restart the run
    read `RunStarted, RunStarted, RunSucceeded`, attempt 1 an abandoned start."""
    t = trigger(sh("true"))
    await publish(event_log, t)
    journal = str(tmp_path / "journal")
    first, stop = Executor(nc, config(journal_dir=journal)), asyncio.Event()
    calls = ack_lost_once(first)
    task = asyncio.create_task(first.run(stop))
    await wait_for(lambda: _true(calls[0] == 1 and first.stats.errors == 1))
    stop.set()
    await asyncio.wait_for(task, 5)
    assert kinds(await events(event_log, t)) == ["RunStarted"]

    second = Executor(nc, config(journal_dir=journal))
    await second.run_burst(12)
    assert kinds(await events(event_log, t)) == RUN_AGAIN


async def _true(value: bool) -> bool:
    return value
