"""Stopping an executor while NATS is away, with a run whose job ended and whose result waits.

A real nats-server (stopped, then restarted on the same port and store), a real executor in
this process and a shell job. newcomer18b F9: the stop said "handed back unfinished: its job is
stopped and runs again" of a job that had ended, and logged the expected AppendFailed as a
35-line traceback. What is true: the result is kept in the journal and stored at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import nats
import pytest
from test_agent import config, events, kinds, publish, sh, trigger

from jetcron.connect import close
from jetcron.executors.agent import Executor, Stopped
from jetcron.log.stream import EventLog
from jetcron.server import NatsServer


async def _until(predicate: object, within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.mark.timeout(60)
async def test_a_result_waiting_when_stopped_is_kept_not_handed_back(
    nats_server: NatsServer, event_log: EventLog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    witness, journal = tmp_path / "witness", tmp_path / "journal"
    t = trigger(sh(f"echo start >> {witness}; sleep 0.5; echo end >> {witness}"))
    options = {"journal_dir": str(journal), "drain_timeout_s": 1.0}
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    stop = asyncio.Event()
    serving = asyncio.create_task(Executor(nc, config(**options)).run(stop))
    await publish(event_log, t)
    await _until(lambda: witness.exists() and "start" in witness.read_text(), 10)
    nats_server.stop()
    await _until(lambda: "end" in witness.read_text(), 10)
    await asyncio.sleep(1.0)  # why: its result is now retried against the absent server
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jetcron"):
        stop.set()
        stopped = await asyncio.wait_for(serving, 30)
    ours = [r for r in caplog.records if r.name.startswith("jetcron")]  # why: not nats.py's own
    said = [r.getMessage() for r in ours]
    await close(nc)

    assert not any("handed back" in s for s in said), said
    assert not any(r.exc_info for r in ours), "a traceback for an expected failure"
    assert any(f"result of run {t.run_id} kept in the journal; stored at" in s for s in said)
    assert (journal / t.run_id).exists()
    assert stopped == Stopped(in_flight=1, held=1)  # what `jetcron executor` says last

    nats_server.restart()
    nc = await nats.connect(nats_server.url)
    try:
        back = await EventLog(nc).open()
        await Executor(nc, config(**options)).run_burst(5)
        assert kinds(await events(back, t)) == ["RunStarted", "RunSucceeded"]
        assert witness.read_text().split() == ["start", "end"], "the ended job ran again"
        await back.close()
    finally:
        await close(nc)
