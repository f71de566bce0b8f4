"""Append throughput: EventLog.publish against the fastest acked publishing plain nats-py allows."""

from __future__ import annotations

from typing import Any

from bench.common import (
    CpuMeter,
    RawPublisher,
    connected,
    nats_server,
    now,
    per_s,
    publish_all,
    rnd,
    trigger_envelope,
)
from jetcron import subjects
from jetcron.domain.envelope import Envelope, encode
from jetcron.log.stream import EventLog, stream_config

RAW_WINDOW = 20_000
ROUNDS = 3


async def _raw(
    payloads: list[bytes], subject: str, msg_ids: list[str] | None
) -> tuple[int, CpuMeter]:
    async with nats_server("publish-raw") as server, connected(server.url) as nc:
        # why: the log's own stream config (file store, dedupe window): only the client differs.
        await nc.jetstream().add_stream(stream_config())
        async with RawPublisher(nc, RAW_WINDOW) as pub:
            if msg_ids is None:
                messages = [(subject, p, None) for p in payloads]
            else:
                messages = [
                    (subject, p, {"Nats-Msg-Id": m}) for p, m in zip(payloads, msg_ids, strict=True)
                ]
            with CpuMeter(server) as cpu:
                count, _ = await pub.run(messages)
    return count, cpu


async def _ours(envelopes: list[Envelope], subject: str) -> tuple[int, CpuMeter]:
    async with nats_server("publish-log") as server, connected(server.url) as nc:
        log = await EventLog(nc).open()
        try:
            with CpuMeter(server) as cpu:
                await publish_all(log, [(subject, e) for e in envelopes])
            stored = await log.last_seq()
        finally:
            await log.close()
    if stored != len(envelopes):
        raise RuntimeError(f"EventLog stored {stored} of {len(envelopes)} events")
    return stored, cpu


async def _ours_many(envelopes: list[Envelope], subject: str) -> tuple[int, CpuMeter] | None:
    """EventLog.publish_many (the ticker's bulk path), where this version of the log has it."""
    async with nats_server("publish-many") as server, connected(server.url) as nc:
        log = await EventLog(nc).open()
        if not hasattr(log, "publish_many"):
            await log.close()
            return None
        try:
            with CpuMeter(server) as cpu:
                results = await log.publish_many([(subject, e, e.id) for e in envelopes])
            stored = await log.last_seq()
        finally:
            await log.close()
    failed = [r for r in results if isinstance(r, Exception)]
    if failed or stored != len(envelopes):
        raise RuntimeError(
            f"publish_many stored {stored} of {len(envelopes)}; first error {failed[:1]}"
        )
    return stored, cpu


async def _round(envelopes: list[Envelope], payloads: list[bytes], subject: str) -> dict[str, Any]:
    """One measurement of each way to publish, in the same order every round."""
    raw_n, raw = await _raw(payloads, subject, None)
    ids_n, ids = await _raw(payloads, subject, [e.id for e in envelopes])
    ours_n, ours = await _ours(envelopes, subject)
    many = await _ours_many(envelopes, subject)
    return {"raw": (raw_n, raw), "ids": (ids_n, ids), "ours": (ours_n, ours), "many": many}


def _median_round(rounds: list[dict[str, Any]], key: str) -> tuple[int, CpuMeter] | None:
    """The round whose `key` rate is the median one (its count and meter)."""
    got = [r[key] for r in rounds if r[key] is not None]
    if not got:
        return None
    got.sort(key=lambda nc: per_s(nc[0], nc[1].wall_s) or 0.0)
    return got[len(got) // 2]  # type: ignore[no-any-return]


async def measure(n: int, rounds: int = ROUNDS) -> dict[str, Any]:
    """Raw, raw + Nats-Msg-Id, and EventLog.publish of the same n trigger envelopes, `rounds`
    times interleaved; each figure is its median round.

    why: on a shared 2-core machine one run swings +-30 %; interleaved rounds and medians
    keep the ratios about the code, not about what else ran that second.
    """
    base = now()
    envelopes = [trigger_envelope(i, base) for i in range(n)]
    payloads = [encode(e) for e in envelopes]
    subject = subjects.trigger("default")
    results = [await _round(envelopes, payloads, subject) for _ in range(rounds)]
    raw_n, raw = _median_round(results, "raw")  # type: ignore[misc]
    ids_n, ids = _median_round(results, "ids")  # type: ignore[misc]
    ours_n, ours = _median_round(results, "ours")  # type: ignore[misc]
    many = _median_round(results, "many")
    return {
        # why: publish_many is the log's bulk append path (ticker, bulk writers); the per-call
        # path from thousands of tasks is reported beside it as append_single_*.
        "append_events_per_s": rnd(per_s(many[0], many[1].wall_s), 0) if many else None,
        "append_cpu_us": many[1].us_per(many[0]) if many else None,
        "publish_count": n,
        "payload_bytes": len(payloads[0]),
        "raw_publish_per_s": rnd(per_s(raw_n, raw.wall_s), 0),
        "raw_publish_msgid_per_s": rnd(per_s(ids_n, ids.wall_s), 0),
        "append_single_events_per_s": rnd(per_s(ours_n, ours.wall_s), 0),
        "raw_publish_cpu_us": raw.us_per(raw_n),
        "raw_publish_msgid_cpu_us": ids.us_per(ids_n),
        "append_single_cpu_us": ours.us_per(ours_n),
        "notes": [
            f"publish: {rounds} interleaved rounds, each figure its median round; "
            f"{n} x {len(payloads[0])} B RunTriggered envelopes, one R1 file stream "
            f"with the log's config; raw = pipelined, window {RAW_WINDOW}, no headers; "
            "raw_publish_msgid adds only a Nats-Msg-Id header (the server's dedupe cost); "
            "append = EventLog.publish_many of the whole list in one call (encode, Nats-Msg-Id "
            "headers, bounded window, acks settled in the reply callback: the bulk path the ticker "
            "uses); append_single = EventLog.publish (one awaited ack per call) from 8192 tasks; "
            "envelopes built beforehand; "
            "*_cpu_us = [client, nats-server] CPU microseconds per message",
        ],
    }


async def run(quick: bool) -> dict[str, Any]:
    """The publish figures."""
    return await measure(50_000 if quick else 200_000)
