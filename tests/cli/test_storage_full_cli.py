"""A NATS server whose JetStream storage is full (here: another stream took it all): what the
operator sees from the CLI, and that it clears once there is room again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.errors import ServiceUnavailableError
from served import cli, ok, scheduler_in_thread

from conftest import require_nats_server
from jetcron.log.errors import STORAGE, STORAGE_FULL
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
    """Another stream takes what storage is left."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="FILLER", subjects=["filler"])
    try:
        for _ in range(1000):
            await js.publish("filler", b"x" * 16_384)
    except ServiceUnavailableError as err:
        assert err.err_code == STORAGE_FULL
    finally:
        await nc.close()


async def _make_room(url: str) -> None:
    nc = await nats.connect(url)
    await nc.jetstream().delete_stream("FILLER")
    await nc.close()


def test_a_full_store_says_so_in_commands_health_and_status(small_server: str) -> None:
    for url in scheduler_in_thread(small_server):
        ok(url, "schedule", "add", "before", "@daily", "--", "true")
        asyncio.run(_fill(url))

        added = cli(url, "schedule", "add", "after", "@daily", "--", "true")
        assert added.exit_code == 1, added.output
        [line] = added.stderr.strip().splitlines()
        assert "JetStream has no storage left (insufficient resources, err_code 10023)" in line
        health = cli(url, "health", "--json")
        assert health.exit_code == 1, health.output
        [problem] = [p for p in json.loads(health.stdout)["problems"] if p["kind"] == "log_full"]
        assert problem["subject"] == "jetcron.sched.after"
        assert "appends refused since" in problem["detail"]
        assert "note: log full: appends refused since" in ok(url, "status")

        asyncio.run(_make_room(url))
        ok(url, "schedule", "add", "after", "@daily", "--", "true")
        assert cli(url, "health").exit_code == 0
