"""The log against a real nats-server: stream setup, CAS appends, atomic batches, replay."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client

from jetcron import subjects
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import RunSkipped
from jetcron.errors import InfrastructureError
from jetcron.log.errors import ConcurrencyConflict
from jetcron.log.stream import EventLog

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def envelope(i: int, name: str = "s") -> Envelope:
    event = RunSkipped(schedule_id="sid", name=name, fire_id=f"f{i}", fire_time=T0, reason="test")
    return Envelope(id=f"e{i}", at=T0, actor="test", event=event)


async def test_stream_is_created_idempotently_and_immutable(event_log: EventLog, js) -> None:
    await event_log.ensure_stream()
    info = await js.stream_info(subjects.STREAM)
    assert info.config.deny_delete and info.config.deny_purge
    assert info.config.duplicate_window == 600


async def test_cas_append_conflict(event_log: EventLog) -> None:
    subject = subjects.fire("s")
    [seq] = await event_log.append(subject, [envelope(1)], expected_last_subject_seq=0)
    with pytest.raises(ConcurrencyConflict, match="wrong last sequence"):
        await event_log.append(subject, [envelope(2)], expected_last_subject_seq=0)
    [seq2] = await event_log.append(subject, [envelope(3)], expected_last_subject_seq=seq)
    events, last = await event_log.load(subject)
    assert [e.envelope.id for e in events] == ["e1", "e3"]
    assert last == seq2


async def test_batch_is_all_or_nothing(event_log: EventLog) -> None:
    subject = subjects.fire("b")
    seqs = await event_log.append(
        subject, [envelope(1), envelope(2), envelope(3)], expected_last_subject_seq=0
    )
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    with pytest.raises(ConcurrencyConflict):
        await event_log.append(subject, [envelope(4), envelope(5)], expected_last_subject_seq=0)
    events, _ = await event_log.load(subject)
    assert len(events) == 3


async def test_publish_dedupes_by_msg_id(event_log: EventLog) -> None:
    first = await event_log.publish(subjects.fire("d"), envelope(1), msg_id="fire-1")
    again = await event_log.publish(subjects.fire("d"), envelope(1), msg_id="fire-1")
    assert again.duplicate and again.seq == first.seq


async def test_replay_reads_everything_in_order_and_skips_unknown(event_log: EventLog, nc) -> None:
    acks = await asyncio.gather(
        *(event_log.publish(subjects.fire(f"n{i % 7}"), envelope(i)) for i in range(2500))
    )
    await nc.publish(
        subjects.fire("junk"),
        b'{"id":"x","at":"2026-01-01T00:00:00Z","actor":"a","event":{"type":"from.the.future"}}',
    )
    await nc.publish(subjects.fire("junk"), b"not json")
    await nc.flush()
    await asyncio.sleep(0.2)
    seen = []
    async for batch in event_log.read(batch=1000):
        seen += [s.seq for s in batch]
    assert seen == sorted(a.seq for a in acks)


@pytest.mark.parametrize("until", [1, 37, 999, 1000])
async def test_read_until_stops_at_that_sequence_though_more_arrived(
    event_log: EventLog, until: int
) -> None:
    """`replay --verify` folds to the live position; a wake-up bringing more must not leak it."""
    await event_log.publish_many([(subjects.fire("u"), envelope(i), f"u{i}") for i in range(1000)])
    seen = [s.seq for batch in [b async for b in event_log.read(until_seq=until)] for s in batch]
    assert seen == list(range(1, until + 1))


async def test_follow_sees_new_events(event_log: EventLog) -> None:
    got: list[int] = []

    async def follow() -> None:
        async for batch in event_log.read(follow=True):
            got.extend(s.seq for s in batch)
            if len(got) >= 3:
                return

    task = asyncio.create_task(follow())
    for i in range(3):
        await event_log.publish(subjects.fire("f"), envelope(i))
        await asyncio.sleep(0.05)
    await asyncio.wait_for(task, 5)
    assert got == [1, 2, 3]


async def test_load_reads_long_histories_in_batches(event_log: EventLog) -> None:
    subject = subjects.fire("long")
    await asyncio.gather(*(event_log.publish(subject, envelope(i)) for i in range(600)))
    await event_log.publish(subjects.fire("other"), envelope(999))
    events, last = await event_log.load(subject)
    assert len(events) == 600 and last == max(e.seq for e in events)
    assert await event_log.load(subjects.fire("nothing-here")) == ([], 0)


async def test_raw_sink_leaves_other_subscriptions_alone(event_log: EventLog, nc) -> None:
    # The reader hooks nats-py's message path for its own inbox only.
    got: list[bytes] = []

    async def cb(msg) -> None:
        got.append(msg.data)

    sub = await nc.subscribe("plain.subject", cb=cb)
    async for _ in event_log.read(follow=False):
        pass
    await event_log.publish(subjects.fire("x"), envelope(1))
    async for batch in event_log.read():
        assert len(batch) == 1
    await nc.publish("plain.subject", b"hello", headers={"A": "b"})
    await nc.flush()
    await asyncio.sleep(0.1)
    assert got == [b"hello"]
    await sub.unsubscribe()


async def test_last_seq_of_a_missing_log_says_what_creates_it(nc: Client) -> None:
    log = await EventLog(nc).open(create=False)
    try:
        with pytest.raises(InfrastructureError, match="does not exist: `jetcron up`"):
            await log.last_seq()
    finally:
        await log.close()


def test_an_unreadable_event_is_logged_once_however_often_it_is_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from jetcron.log.decoding import decode_records
    from jetcron.log.reader import RawRecord

    garbage = RawRecord(7, "jetcron.sched.poisoned", b"\x00not json", time.time_ns(), 0)
    with caplog.at_level("WARNING", logger="jetcron.log.reader"):
        for _ in range(3):
            assert decode_records([garbage]) == []

    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("skipping event at seq 7 on jetcron.sched.poisoned: ")
    assert not line.endswith("(?)")
