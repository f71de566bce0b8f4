"""The peer inside NATS: JetStream's built-in message scheduler (ADR-51) on the same 10k burst."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig

from bench.common import (
    RawPublisher,
    connected,
    epoch_ns,
    nats_server,
    next_whole_second,
    now,
    rnd,
    sleep_until,
    trigger_envelope,
)
from jetcron.domain.envelope import encode
from jetcron.log.reader import read_raw

STREAM = "NATIVE"


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _fired(nc: Client) -> list[int]:
    """Server store times (ns) of every delivered message so far."""
    stored: list[int] = []
    async for records in read_raw(nc, STREAM, subjects=["fired.>"]):
        stored.extend(r.stored_ns for r in records)
    return stored


async def burst(n: int = 10_000, lead_s: float = 3.0) -> dict[str, Any]:
    """n `@at` schedules for one second; seconds from it until the n-th delivered one is stored."""
    async with nats_server("native") as server, connected(server.url) as nc:
        await nc.jetstream().add_stream(
            StreamConfig(
                name=STREAM,
                subjects=["sched.>", "fired.>"],
                storage=StorageType.FILE,
                allow_msg_schedules=True,
            )
        )
        due = next_whole_second(lead_s)
        payload = encode(trigger_envelope(0, due))
        headers = {"Nats-Schedule": f"@at {_rfc3339(due)}"}
        async with RawPublisher(nc) as pub:
            await pub.run(
                (f"sched.{i}", payload, headers | {"Nats-Schedule-Target": f"fired.{i}"})
                for i in range(n)
            )
        if now() >= due:
            raise RuntimeError("set-up took longer than the lead time")
        await sleep_until(due)
        stored: list[int] = []
        for _ in range(60):
            await asyncio.sleep(0.5)
            stored = await _fired(nc)
            if len(stored) >= n:
                break
    if len(stored) < n:
        raise RuntimeError(f"only {len(stored)} of {n} scheduled messages delivered within 30 s")
    stored.sort()
    due_ns = epoch_ns(due)
    return {
        "nats_native_burst_10k_seconds": rnd((stored[n - 1] - due_ns) / 1e9, 3),
        "nats_native_burst_first_ms": rnd((stored[0] - due_ns) / 1e6, 1),
        "notes": [
            f"native_schedule: {n} messages with 'Nats-Schedule: @at {_rfc3339(due)}' and their "
            "own "
            f"Nats-Schedule-Target on an allow_msg_schedules stream ({len(payload)} B payloads); "
            "seconds from the due second to the store time of the last delivered message",
        ],
    }


async def run(quick: bool) -> dict[str, Any]:
    """The native scheduler figure."""
    return await burst(10_000)
