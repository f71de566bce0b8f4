"""A chunk of deliveries decoded in one msgspec call gives what decoding them one by one gives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from jetcron.domain import envelope as envelopes
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, encode
from jetcron.domain.events import (
    Event,
    RunFailed,
    RunSkipped,
    RunStarted,
    RunSucceeded,
    RunTriggered,
    ScheduleCreated,
)
from jetcron.log import decoding
from jetcron.log.decoding import decoded_frames, decoded_parts
from jetcron.log.pull import seq_of
from jetcron.log.reader import records_of

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
FIRE = {"schedule_id": "sid", "name": "s", "fire_id": "f1", "fire_time": T0}
RUN = {**FIRE, "run_id": "r1", "executor": "nas"}
DEFINITION = ScheduleDefinition(spec="* * * * *", job=Job(command=["true"]))
EVENTS: list[Event] = [
    ScheduleCreated(schedule_id="sid", name="s", version=1, definition=DEFINITION),
    RunTriggered(**FIRE, run_id="r1", version=1, target="default", job=Job(command=["true"])),
    RunStarted(**RUN, pid=7),
    RunFailed(**RUN, exit_code=1, error="exit status 1", next_retry_at=T0),
    RunSucceeded(**RUN, attempt=2, duration_s=1.5),
    RunSkipped(**FIRE, reason="overlap"),
]


def envelope(event: Event) -> Envelope:
    return Envelope(id="e1", at=T0, actor="test", event=event, reason="why")  # type: ignore[arg-type]


def _frame(seq: int, payload: bytes, subject: bytes = b"jetcron.fire.s") -> tuple[Any, ...]:
    reply = f"$JS.ACK.JETCRON.c1.1.{seq}.{seq}.17{seq:017d}.{100 - seq}".encode()
    return (subject, reply, payload, None)


def _plain(seq: int) -> bytes:
    return encode(envelope(EVENTS[seq % 2 + 1]))


def _both(frames: list[Any]) -> tuple[list[Any], list[Any]]:
    return list(decoded_frames(frames)), list(decoded_parts(records_of(frames)))


@pytest.mark.parametrize("one_call", [True, False])
def test_events_decode_the_same_in_one_call(one_call: bool, monkeypatch) -> None:
    frames = [_frame(i + 1, encode(envelope(event))) for i, event in enumerate(EVENTS)]
    if one_call:
        frames = frames[1:]  # why: a definition is checked event by event (below)
    fast, slow = _both(frames)
    assert fast == slow
    assert [s.seq for s in slow[0][0]] == [seq_of(f) for f in frames]
    if one_call:
        monkeypatch.setattr(decoding, "decoded_parts", _not_called)
        assert list(decoded_frames(frames)) == slow
    assert envelopes.decode_stored(b"[]") == []


def _not_called(*args: object) -> None:
    raise AssertionError("decoded event by event")


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"id":"x","at":"2026-01-01T00:00:00Z","actor":"a","event":{"type":"from.the.future"}}',
        # why: what decode has to look at: a schema to upcast or refuse
        b'{"id":"x","at":"2026-01-01T00:00:00Z","actor":"a","schema":9,'
        b'"event":{"type":"health.acknowledged"}}',
    ],
    ids=["garbage", "unknown-type", "newer-schema"],
)
def test_a_chunk_with_an_event_decode_must_look_at_is_decoded_one_by_one(payload: bytes) -> None:
    frames = [_frame(1, _plain(1)), _frame(2, payload), _frame(3, _plain(3))]
    fast, slow = _both(frames)
    assert fast == slow
    assert [(len(events), skipped is not None) for events, skipped in fast] == [
        (1, True),
        (1, False),
    ]


@pytest.mark.parametrize(
    "subject", [b'jetcron.fire."q"', b"jetcron.fire.a\\nb", b"jetcron.fire.\xc3\xa9t\xc3\xa9"]
)
def test_a_subject_reads_back_as_itself(subject: bytes) -> None:
    frames = [_frame(1, _plain(1), subject), _frame(2, _plain(2))]
    fast, slow = _both(frames)
    assert fast == slow
    assert fast[0][0][0].subject == subject.decode()


def test_a_definition_is_checked_as_decode_checks_it() -> None:
    created = msgspec.json.decode(encode(envelope(EVENTS[0])))
    created["event"]["definition"]["max_runs"] = 2**70  # why: decodes, breaks msgpack
    frames = [_frame(1, _plain(1)), _frame(2, msgspec.json.encode(created))]
    fast, slow = _both(frames)
    assert fast == slow
    skipped = fast[0][1]
    assert skipped is not None and "cannot be handled" in skipped[1].problem
