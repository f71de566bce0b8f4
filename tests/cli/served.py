"""A live scheduler service on a test's nats-server, and the CLI against it (in-process)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import nats
from typer.testing import CliRunner, Result

from jetcron import service
from jetcron.cli.main import app

runner = CliRunner()


def scheduler_in_thread(
    nats_url: str, config: service.ServiceConfig | None = None
) -> Iterator[str]:
    """Yield `nats_url` while a scheduler service runs on it in a background thread.

    A thread because the CLI runs its own event loop; the `scheduler` fixture (tests/conftest.py)
    yields from this, and so does a module's own `scheduler` that needs another config.
    """
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        nc = await nats.connect(nats_url)
        up = asyncio.Event()
        task = asyncio.create_task(service.run(nc, stop=stop, ready=up, config=config))
        await up.wait()
        ready.set()
        await task
        await nc.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(20)
    yield nats_url
    loop.call_soon_threadsafe(stop.set)  # type: ignore[union-attr]
    thread.join(20)
    loop.close()


def cli(server: str, *args: str) -> Result:
    """Run `jetcron ARGS --server SERVER` in-process (the server option before any `--`)."""
    at = args.index("--") if "--" in args else len(args)
    return runner.invoke(app, [*args[:at], "--server", server, *args[at:]])


def listed(server: str) -> dict[str, Any]:
    """Live schedules by name, as `schedule list --all --json` shows them."""
    result = cli(server, "schedule", "list", "--all", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def ok(server: str, *args: str) -> str:
    """`cli(...)`'s stdout, asserting it exited 0."""
    result = cli(server, *args)
    assert result.exit_code == 0, result.output
    return result.stdout
