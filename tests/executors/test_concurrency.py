"""`--concurrency N` is the executor's limit across all its consumers (a real nats-server)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from test_agent import config, events, kinds, publish, sh, trigger

from jetcron.executors import agent
from jetcron.executors.agent import Executor
from jetcron.executors.consumers import Consumer
from jetcron.executors.intake import Slots
from jetcron.log.stream import EventLog
from polling import until

# -- the slots, pure ---------------------------------------------------------------------------


async def test_slots_are_granted_in_request_order() -> None:
    slots = Slots(2)
    assert await slots.take(2) == 2
    first, second = slots.request(1), slots.request(2)
    slots.give(1)
    assert first.done() and first.result() == 1 and not second.done()
    slots.give(2)
    assert second.result() == 2 and slots.free == 0


async def test_waiting_for_a_free_slot_takes_none() -> None:
    slots = Slots(1)
    assert await slots.wait_free() and slots.free == 1
    assert await slots.take(1) == 1
    waiter = asyncio.create_task(slots.wait_free())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    slots.give(1)
    assert await waiter and slots.free == 1


async def test_closed_slots_answer_zero_and_cancelled_waiters_are_skipped() -> None:
    slots = Slots(1)
    assert await slots.take(1) == 1
    gone = asyncio.create_task(slots.take(1))
    await asyncio.sleep(0.01)
    gone.cancel()
    later = slots.request(1)
    slots.give(1)
    assert later.result() == 1
    slots.close()
    assert await slots.take(1) == 0 and not await slots.wait_free()


# -- a real executor ---------------------------------------------------------------------------

SCRIPT = "echo start $(date +%s.%N) >> {f}; sleep {s}; echo end $(date +%s.%N) >> {f}"


def most_at_once(witness: Path) -> int:
    """The largest number of jobs running at one instant, from the jobs' own timestamps."""
    marks = []
    for line in witness.read_text().splitlines():
        what, at = line.split()
        marks.append((float(at), 1 if what == "start" else -1))
    running = peak = 0
    for _, step in sorted(marks, key=lambda m: (m[0], m[1])):  # why: an end before a start
        running += step
        peak = max(peak, running)
    return peak


async def serve_until_done(executor: Executor, witness: Path, jobs: int, within: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(executor.run(stop))

    async def finished() -> bool:
        return witness.exists() and witness.read_text().count("end") == jobs

    try:
        await until(finished, within)
    finally:
        stop.set()
        await task


@pytest.mark.timeout(60)
async def test_one_busy_target_uses_all_slots_of_three_consumers(
    nc: Client, event_log: EventLog, tmp_path: Path
) -> None:
    witness = tmp_path / "witness"
    # three consumers: pool-c1, pool-t, fan-c1-t
    ex = Executor(nc, config("c1", targets=["c1"], tags=["t"], concurrency=4))
    ts = [trigger(sh(SCRIPT.format(f=witness, s=2)), target="t") for _ in range(4)]

    async def fire() -> None:
        await asyncio.sleep(1.5)  # why: every consumer idle, its long poll outstanding
        for t in ts:  # why: due one by one, like a schedule's runs
            await publish(event_log, t)
            await asyncio.sleep(0.1)

    await asyncio.gather(fire(), serve_until_done(ex, witness, len(ts), within=25))
    assert most_at_once(witness) == 4
    for t in ts:
        assert kinds(await events(event_log, t)) == ["RunStarted", "RunSucceeded"]


@pytest.mark.timeout(60)
async def test_never_more_than_n_at_once_across_targets(
    nc: Client, event_log: EventLog, tmp_path: Path
) -> None:
    witness = tmp_path / "witness"
    job = sh(SCRIPT.format(f=witness, s=1))
    targets = ["c1", "t", "all:t"] * 4
    ts = [trigger(job, target=target) for target in targets]
    await publish(event_log, *ts)
    ex = Executor(nc, config("c1", targets=["c1"], tags=["t"], concurrency=4))
    await serve_until_done(ex, witness, len(ts), within=30)
    assert most_at_once(witness) == 4
    assert ex.stats.succeeded == len(ts)


@pytest.mark.timeout(60)
async def test_a_trigger_for_an_idle_target_takes_its_turn_behind_a_backlog(
    nc: Client, event_log: EventLog, tmp_path: Path
) -> None:
    witness, other = tmp_path / "witness", tmp_path / "other"
    backlog = [trigger(sh(SCRIPT.format(f=witness, s=1)), target="t") for _ in range(10)]
    late = trigger(sh(SCRIPT.format(f=other, s=0)), target="c1", name="other")
    ex = Executor(nc, config("c1", targets=["c1"], tags=["t"], concurrency=2))

    async def fire() -> None:
        await publish(event_log, *backlog)
        await asyncio.sleep(1.5)  # why: the backlog is running, both slots busy
        await publish(event_log, late)

    await asyncio.gather(fire(), serve_until_done(ex, witness, len(backlog), within=30))
    started = float(other.read_text().split()[1])
    ends = sorted(float(line.split()[1]) for line in witness.read_text().splitlines()
                  if line.startswith("end"))  # fmt: skip
    assert started < ends[4], "the idle target waited for the whole backlog"
    assert most_at_once(witness) == 2


class LateAnswered(Consumer):
    """A real consumer whose first backlog fetch finds messages that stale pull requests brought.

    why: after a SIGSTOP of nats-server the pull requests sent meanwhile are answered at once,
    into the subscription's queue, and nats-py's fetch(n) returns all it finds there, however
    many (newcomer20b F1: 9 jobs ran under --concurrency 4). This sends one such request.
    """

    stale = 6

    async def fetch(self, n: int, timeout: float = 5.0) -> list[Msg]:  # noqa: ASYNC109
        sub = self._sub
        if n > 1 and type(self).stale and sub is not None:
            stale, type(self).stale = type(self).stale, 0
            request = json.dumps({"batch": stale, "no_wait": True}).encode()
            await sub._nc.publish(sub._nms, request, reply=sub._deliver)  # noqa: SLF001
            await until(lambda: sub.pending_msgs >= stale, 5)
        return await super().fetch(n, timeout)


@pytest.mark.timeout(60)
async def test_a_fetch_returning_more_than_asked_never_runs_more_than_n(
    nc: Client, event_log: EventLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness = tmp_path / "witness"
    ts = [trigger(sh(SCRIPT.format(f=witness, s=2)), target="c1") for _ in range(10)]
    await publish(event_log, *ts)
    monkeypatch.setattr(LateAnswered, "stale", 6)
    monkeypatch.setattr(agent, "Consumer", LateAnswered)
    ex = Executor(nc, config("c1", targets=["c1"], concurrency=4))
    await serve_until_done(ex, witness, len(ts), within=40)
    assert LateAnswered.stale == 0, "the stale pull request was never sent"
    assert most_at_once(witness) == 4
    for t in ts:
        assert kinds(await events(event_log, t)) == ["RunStarted", "RunSucceeded"]
