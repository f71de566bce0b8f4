"""One executor per name, on a real nats-server: racing claims resolve to one, a replaced
executor is fenced at its next beat, a lapsed key is taken again by its own executor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from jetcron.executors.agent import Executor, ExecutorConfig
from jetcron.executors.heartbeat import Heartbeat
from jetcron.executors.naming import Claim, NameHeld, NameTaken, claim, identity, may_take
from jetcron.log import heartbeats
from jetcron.log.errors import ConcurrencyConflict
from jetcron.log.heartbeats import ExecutorInfo
from jetcron.log.stream import EventLog

ROUNDS = 40
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def me(name: str, pid: int, host: str = "racehost") -> ExecutorInfo:
    """An executor's identity as another process would write it (its own pid, start time)."""
    return ExecutorInfo(name=name, hostname=host, pid=pid, started_at=T0 + timedelta(seconds=pid))


def live(pid: int) -> bool:
    return pid != 99  # why: pid 99 is the crash leftover in these tests; the racers are alive


SEEN = me("pi", 4242, host="otherhost")


@pytest.mark.parametrize(
    ("held", "replaced", "ok"),
    [
        pytest.param(me("pi", 99), None, True, id="crash-leftover-here"),
        pytest.param(me("pi", 1002), None, False, id="live-here"),
        pytest.param(me("pi", 1001), None, True, id="own-pid-here-restarted-container"),
        pytest.param(me("pi", 99, host="otherhost"), None, False, id="dead-pid-elsewhere"),
        pytest.param(SEEN, None, False, id="live-elsewhere"),
        pytest.param(SEEN, SEEN, True, id="replace-the-holder-seen"),
        pytest.param(me("pi", 1002), SEEN, False, id="replace-never-a-racer-that-won"),
    ],
)
def test_who_may_take_a_held_name(
    held: ExecutorInfo, replaced: ExecutorInfo | None, ok: bool
) -> None:
    assert may_take(held, me("pi", 1001), replaced, live) is ok


@pytest.fixture
async def nc2(nats_url: str) -> AsyncIterator[Client]:
    """A second connection: the racers are two processes, each with its own."""
    client = await nats.connect(nats_url)
    yield client
    await client.close()


async def race(
    ncs: tuple[Client, Client], name: str, *, replace: bool = False
) -> list[Claim | BaseException]:
    """Two claimers started at the same instant (pids 1001 and 1002)."""
    a, b = me(name, 1001), me(name, 1002)
    return await asyncio.gather(
        claim(ncs[0], a, replace=replace, alive=live),
        claim(ncs[1], b, replace=replace, alive=live),
        return_exceptions=True,
    )


def split(results: list[Claim | BaseException]) -> tuple[list[Claim], list[NameHeld]]:
    """The winners and the refused; anything else fails the test."""
    won = [r for r in results if isinstance(r, Claim)]
    held = [r for r in results if isinstance(r, NameHeld)]
    assert len(won) + len(held) == len(results), results
    return won, held


async def test_two_claimers_of_a_free_name_one_wins_the_other_is_told_who(
    nc: Client, nc2: Client
) -> None:
    for i in range(ROUNDS):
        won, held = split(await race((nc, nc2), f"free-{i}"))
        assert len(won) == 1 and len(held) == 1, (i, won, held)
        # the loser's one line names the winner, who holds the key at the revision it wrote
        assert held[0].holder is not None and held[0].holder.pid == won[0].info.pid
        revision, info = await heartbeats.current(nc, f"free-{i}")
        assert (revision, info and info.pid) == (won[0].revision, won[0].info.pid)


async def test_two_claimers_of_a_crash_leftover_one_takes_it_over(nc: Client, nc2: Client) -> None:
    for i in range(ROUNDS):
        name = f"left-{i}"
        await heartbeats.ensure_bucket(nc)
        await heartbeats.put(nc, me(name, 99), 30)  # why: pid 99 is gone: a crash leftover here
        won, held = split(await race((nc, nc2), name))
        assert len(won) == 1 and len(held) == 1, (i, won, held)
        assert won[0].leftover and won[0].took_over and won[0].took_over.pid == 99


async def test_replace_racers_resolve_to_one_holder(nc: Client, nc2: Client) -> None:
    both = 0
    for i in range(ROUNDS):
        name = f"repl-{i}"
        await heartbeats.ensure_bucket(nc)
        await heartbeats.put(nc, me(name, 4242, host="otherhost"), 30)
        won, _ = split(await race((nc, nc2), name, replace=True))
        revision, _info = await heartbeats.current(nc, name)
        holders = [c for c in won if c.revision == revision]
        assert len(holders) == 1, (i, won, revision)
        for fenced in (c for c in won if c.revision != revision):
            # why: it replaced the holder it saw, and so did the other after it: its next
            # beat (CAS on its revision) fails, so it stops; never two beating under one name
            both += 1
            with pytest.raises(ConcurrencyConflict):
                await heartbeats.put(nc, fenced.info, 30, expect=fenced.revision)
    assert both < ROUNDS  # both "won" only when one looked after the other had written


async def test_a_refused_claim_writes_nothing(nc: Client) -> None:
    await heartbeats.ensure_bucket(nc)
    seq = await heartbeats.put(nc, me("held", 4242, host="otherhost"), 30)
    with pytest.raises(NameHeld, match=r"'held' is already online on otherhost pid 4242"):
        await claim(nc, me("held", 1001), alive=live)
    assert (await heartbeats.current(nc, "held"))[0] == seq


async def test_a_replaced_heartbeat_stops_and_leaves_the_new_holders_key(nc: Client) -> None:
    mine = identity(ExecutorConfig(name="pi", targets=["pi"]), T0)
    won = await claim(nc, mine)
    beat = Heartbeat(nc, mine, running=list, revision=won.revision)
    await beat.beat()
    other = await claim(nc, me("pi", 4242, host="otherhost"), replace=True, alive=live)

    stop = asyncio.Event()
    await asyncio.wait_for(beat.run(stop), 5)  # returns by itself: the name is lost

    assert beat.lost.is_set() and beat.taken_by is not None and beat.taken_by.pid == 4242
    revision, info = await heartbeats.current(nc, "pi")
    assert revision == other.revision and info is not None and info.hostname == "otherhost"
    await beat.remove()  # a late purge with our stale revision is refused
    assert (await heartbeats.current(nc, "pi"))[0] == other.revision


async def test_a_lapsed_key_is_taken_again_by_its_own_executor(nc: Client) -> None:
    mine = identity(ExecutorConfig(name="pi", targets=["pi"], heartbeat_s=0.3), T0)
    won = await claim(nc, mine)
    beat = Heartbeat(nc, mine, running=list, revision=won.revision)
    # why polled: the server expires the 1 s TTL (whole seconds) on its own timer, late under load
    deadline = asyncio.get_running_loop().time() + 15
    while await heartbeats.get(nc, "pi") is not None:
        assert asyncio.get_running_loop().time() < deadline, "the lapsed key is still there"
        await asyncio.sleep(0.1)

    await beat.beat()  # CAS on our old revision fails; the key is free: ours again

    assert not beat.lost.is_set()
    info = await heartbeats.get(nc, "pi")
    assert info is not None and (info.hostname, info.pid) == (mine.hostname, mine.pid)


async def test_an_executor_whose_name_is_taken_stops_and_says_by_whom(
    nc: Client, event_log: EventLog, tmp_path: Path
) -> None:
    config = ExecutorConfig(
        name="pi", targets=["pi"], heartbeat_s=0.3, journal_dir=str(tmp_path / "journal")
    )
    won = await claim(nc, identity(config, datetime.now(UTC)))
    executor = Executor(nc, config, event_log=event_log, claim=won)
    task = asyncio.create_task(executor.run(asyncio.Event()))
    await asyncio.sleep(0.5)
    await claim(nc, me("pi", 4242, host="otherhost"), replace=True, alive=live)

    with pytest.raises(
        NameTaken, match=r"'pi' stopped: its name was taken by .* otherhost pid 4242"
    ):
        await asyncio.wait_for(task, 10)
    info = await heartbeats.get(nc, "pi")
    assert info is not None and info.hostname == "otherhost"
