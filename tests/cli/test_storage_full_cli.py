"""A NATS server whose JetStream storage is full (here: another stream took it all): what the
operator sees from the CLI, and that it clears once there is room again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from served import cli, ok, scheduler_in_thread

import raw_runs
from conftest import fill_storage, require_nats_server
from jetcron.log.errors import STORAGE
from jetcron.server import NatsServer


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[str]:
    """A nats-server whose JetStream may store 1 MB in all (as a nearly full disk allows)."""
    require_nats_server()
    limit = tmp_path / "limit.conf"
    limit.write_text("jetstream { max_file_store: 1MB }\n")
    with NatsServer(data_dir=tmp_path / "nats", include=limit) as server:
        yield server.url
    STORAGE.accepted()  # why: one per process: the next test starts with room


async def _fill(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await fill_storage(nc)
    finally:
        await nc.close()


async def _make_room(url: str) -> None:
    nc = await nats.connect(url)
    await nc.jetstream().delete_stream("FILLER")
    await nc.close()


async def _held_by(url: str, executor: str) -> None:
    """A run of `before` that `executor` started (and holds: no result yet)."""
    from jetcron.domain.events import RunStarted
    from jetcron.log.stream import EventLog

    nc = await nats.connect(url)
    log = await EventLog(nc).open(create=True)
    run = await raw_runs.trigger(log, "before", executor)
    await raw_runs.report(log, executor, RunStarted(**run, executor=executor))
    await nc.close()


def test_a_full_store_says_so_in_commands_health_and_status(small_server: str) -> None:
    for url in scheduler_in_thread(small_server):
        ok(url, "schedule", "add", "before", "@daily", "--", "true")
        asyncio.run(_held_by(url, "vm"))
        asyncio.run(_fill(url))

        added = cli(url, "schedule", "add", "after", "@daily", "--", "true")
        assert added.exit_code == 1, added.output
        [line] = added.stderr.strip().splitlines()
        assert "JetStream has no storage left (insufficient resources, err_code 10023)" in line
        # newcomer21c #6: "or shorten --retention" frees nothing while the log is full
        assert line.endswith(
            "(a shorter --retention frees nothing now: stored events keep their TTL)"
        )
        health = cli(url, "health", "--json")
        assert health.exit_code == 1, health.output
        [problem] = [p for p in json.loads(health.stdout)["problems"] if p["kind"] == "log_full"]
        assert problem["subject"] == "JetStream storage"  # what to free, not a subject
        assert "appends refused since" in problem["detail"]
        assert "(the last to jetcron.sched.after)" in problem["detail"]
        # newcomer19b F5: vm's heartbeats are refused too; it is not called offline
        problems = json.loads(health.stdout)["problems"]
        assert [p for p in problems if p["kind"] == "executor_offline"] == []
        [unknown] = [p for p in problems if p["kind"] == "executors_unknown"]
        assert unknown["detail"].startswith("executors' heartbeats cannot be stored while the")
        assert "note: log full: appends refused since" in ok(url, "status")
        none = cli(url, "executors")  # newcomer16b N3: an empty table said nothing
        assert none.stdout == "no executor online (none has a live heartbeat)\n", none.output
        assert none.stderr.startswith("note: log full: appends refused since"), none.output

        asyncio.run(_make_room(url))
        ok(url, "schedule", "add", "after", "@daily", "--", "true")
        assert "not online; holds 1 run in flight" in cli(url, "health").stdout  # known again


def test_a_full_store_is_one_heartbeat_line_not_one_every_beat(
    small_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """newcomer16b N3: a 503 warning every 5 s; now one line that says `log full`, and one
    when the beats are stored again."""
    from jetcron.executors.heartbeat import Heartbeat
    from jetcron.log import heartbeats

    async def beats() -> None:
        nc = await nats.connect(small_server)
        await heartbeats.ensure_bucket(nc)
        beat = Heartbeat(nc, heartbeats.ExecutorInfo(name="ex1", interval_s=1), running=list)
        await beat._beat_safely()
        await _fill(small_server)
        for _ in range(3):
            await beat._beat_safely()
        assert beat.failures == 3
        await _make_room(small_server)
        await beat._beat_safely()
        assert beat.failures == 0
        await nc.close()

    with caplog.at_level(logging.INFO, logger="jetcron.executors.heartbeat"):
        asyncio.run(beats())
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 2, lines
    assert lines[0].startswith("heartbeat of ex1 not stored: log full (JetStream has no storage")
    assert lines[1] == "heartbeat of ex1 stored again (after 3 failed)"
