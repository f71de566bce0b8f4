"""`jetcron health --ack`: an operator acknowledges unreadable events once, and health turns
green until a new one arrives; the acknowledgement is an event in the log."""

from __future__ import annotations

import asyncio
import json

import nats
from served import cli

from jetcron import subjects


def publish_garbage(url: str, subject: str) -> None:
    async def go() -> None:
        nc = await nats.connect(url)
        await nc.jetstream().publish(subject, b"{not json")
        await nc.close()

    asyncio.run(go())


def test_ack_clears_what_health_listed_and_only_that(scheduler: str) -> None:
    publish_garbage(scheduler, subjects.fire("x"))
    before = cli(scheduler, "health")
    acked = cli(scheduler, "health", "--ack", "--reason", "a test publisher")
    after = cli(scheduler, "health", "--json")
    publish_garbage(scheduler, subjects.fire("y"))
    again = cli(scheduler, "health")
    lone = cli(scheduler, "health", "--reason", "why")

    assert before.exit_code == 1 and "poison events" in before.stdout, before.stdout
    assert acked.exit_code == 0, (acked.stdout, acked.stderr)
    assert acked.stderr.startswith("acknowledged the unreadable and rejected events before log seq")
    assert acked.stdout == "healthy\n"
    report = json.loads(after.stdout)
    assert (report["healthy"], report["acknowledged"]) == (True, 1)
    assert again.exit_code == 1 and "since the last `health --ack`" in again.stdout, again.stdout
    assert (lone.exit_code, lone.stderr) == (2, "error: --reason goes with --ack\n")
