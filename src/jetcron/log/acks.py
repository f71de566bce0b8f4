"""JetStream's answer to a publish: the ack, and its errors mapped to ours.

why: both 10071 and 10164 mean a lost race (nats.py's js/kv.py maps them alike); a full store
and a stream without a leader are told apart here, and nowhere else, for every writer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import msgspec

from jetcron.log.api import EXPECTED_LAST_SUBJECT_SEQ
from jetcron.log.errors import (
    STORAGE,
    STORAGE_FULL,
    AppendFailed,
    ConcurrencyConflict,
    LogFull,
    NoLeader,
)

WRONG_LAST_SEQUENCE = 10071
"""JSStreamWrongLastSequenceErrF: "wrong last sequence: N" (a single server)."""
WRONG_LAST_SEQUENCE_CONSTANT = 10164
"""JSStreamWrongLastSequenceConstantErr: the same lost race as answered by a clustered stream."""
CONFLICT_CODES = frozenset({WRONG_LAST_SEQUENCE, WRONG_LAST_SEQUENCE_CONSTANT})


class ApiError(msgspec.Struct, frozen=True):
    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct, frozen=True):
    """The stream's answer to one publish (or to the commit of an atomic batch)."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    count: int = 1
    error: ApiError | None = None


_ack_decoder = msgspec.json.Decoder(PubAck)
Reply = tuple[bytes, str]
"""(payload, status code) of an ack."""


def ack_lost(err: BaseException) -> bool:
    """A publish that failed for want of an ack: it may be stored yet (nats-py sends what it
    held while reconnecting once NATS is back), unlike one the server answered with an error."""
    return isinstance(err, TimeoutError) or isinstance(err.__cause__, TimeoutError)


def parse_ack(subject: str, reply: Reply, headers: Mapping[str, str] | None) -> PubAck:
    """PubAck from a reply, mapping JetStream errors to ours."""
    data, status = reply
    if status and not data:
        raise NoLeader(subject, str(status))
    ack = _ack_decoder.decode(data)
    if ack.error is None:
        STORAGE.stored[ack.stream] += 1
        if STORAGE.since is not None:
            STORAGE.accepted(ack.stream)
        return ack
    if ack.error.err_code == STORAGE_FULL:
        STORAGE.refused(subject, time.time())
        raise LogFull(subject)
    # why: both codes mean "someone appended first" (nats.py's js/kv.py maps them alike): retry.
    if ack.error.err_code in CONFLICT_CODES:
        expected = int((headers or {}).get(EXPECTED_LAST_SUBJECT_SEQ, "0"))
        raise ConcurrencyConflict(subject, expected, ack.error.description)
    raise AppendFailed(f"{subject}: {ack.error.description} (err_code {ack.error.err_code})")
