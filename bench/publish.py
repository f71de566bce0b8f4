"""Append throughput: EventLog.publish against the fastest acked publishing plain nats-py allows."""

from __future__ import annotations

from typing import Any

from jetcron import subjects
from jetcron.scheduler.events import encode
from jetcron.scheduler.log import stream_config

from bench.common import RawPublisher, connected, nats_server, now, per_s, publish_all, rnd, trigger_envelope


def _envelopes(n: int) -> list[Any]:
    base = now()
    return [trigger_envelope(i, base) for i in range(n)]


async def _raw(payloads: list[bytes], subject: str, *, msg_ids: list[str] | None) -> tuple[int, float]:
    async with nats_server("publish-raw") as server, connected(server.url) as nc:
        # why: the same stream config (file store, dedupe window) as the log, so only the client differs.
        await nc.jetstream().add_stream(stream_config())
        async with RawPublisher(nc) as pub:
            if msg_ids is None:
                return await pub.run((subject, p, None) for p in payloads)
            return await pub.run((subject, p, {"Nats-Msg-Id": m}) for p, m in zip(payloads, msg_ids, strict=True))


async def _ours(envelopes: list[Any], subject: str) -> tuple[int, float]:
    async with nats_server("publish-log") as server, connected(server.url) as nc:
        from jetcron.scheduler.log import EventLog

        log = await EventLog(nc).open()
        try:
            seconds = await publish_all(log, [(subject, e) for e in envelopes])
            stored = await log.last_seq()
        finally:
            await log.close()
    if stored != len(envelopes):
        raise RuntimeError(f"EventLog stored {stored} of {len(envelopes)} events")
    return stored, seconds


async def measure(n: int) -> dict[str, Any]:
    """Raw, raw + Nats-Msg-Id, and EventLog.publish of the same n trigger envelopes."""
    envelopes = _envelopes(n)
    payloads = [encode(e) for e in envelopes]
    subject = subjects.trigger("default")
    raw_n, raw_s = await _raw(payloads, subject, msg_ids=None)
    ids_n, ids_s = await _raw(payloads, subject, msg_ids=[e.id for e in envelopes])
    ours_n, ours_s = await _ours(envelopes, subject)
    raw, ours = per_s(raw_n, raw_s), per_s(ours_n, ours_s)
    return {
        "publish_count": n,
        "payload_bytes": len(payloads[0]),
        "raw_publish_per_s": rnd(raw, 0),
        "raw_publish_msgid_per_s": rnd(per_s(ids_n, ids_s), 0),
        "append_events_per_s": rnd(ours, 0),
        "notes": [
            f"publish: {n} x {len(payloads[0])} B RunTriggered envelopes; raw = pipelined, window 20k, "
            "no headers; raw_msgid adds only the Nats-Msg-Id header; append = EventLog.publish "
            "(encode + headers + ack futures, window 8192) from 8192 tasks, envelopes built beforehand",
        ],
    }


async def run(quick: bool) -> dict[str, Any]:
    """The publish figures."""
    return await measure(100_000 if quick else 200_000)
