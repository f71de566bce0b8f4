"""Raw records to stored events: undecodable ones are logged once, reported and skipped."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import cast

from jetcron.domain.envelope import Envelope, StoredEvent, UnknownEvent, decode
from jetcron.log.reader import RawRecord

log = logging.getLogger("jetcron.log.reader")  # why: its lines kept their logger's name (filters)

OnSkipped = Callable[[int, UnknownEvent], None]


def decode_records(
    records: list[RawRecord], on_skipped: OnSkipped | None = None
) -> list[StoredEvent]:
    """Decode a batch; undecodable or unknown events are logged, reported and skipped, never raised."""
    out: list[StoredEvent] = []
    for part, skipped in decoded_parts(records):
        out += part
        if skipped is not None and on_skipped is not None:
            on_skipped(*skipped)
    return out


def decoded_parts(
    records: list[RawRecord],
) -> Iterator[tuple[list[StoredEvent], tuple[int, UnknownEvent] | None]]:
    """A batch decoded as (events, the undecodable event after them, or None for the last part).

    why parts: a reader that reports an undecodable event only after the whole batch is
    decoded makes a fold count it before the events ahead of it in the log (a `health --ack`
    among them: replay and the live service, cut into other batches, disagreed, newcomer16c).
    """
    out: list[StoredEvent] = []
    append = out.append
    for r in records:
        envelope = decode(r.data)
        # why: an exact type test; isinstance on a msgspec Struct class costs ~5x more
        if type(envelope) is UnknownEvent:
            _warn_skipped(r, envelope)
            yield out, (r.seq, envelope)
            out = []
            append = out.append
            continue
        append(StoredEvent(r.seq, r.subject, cast(Envelope, envelope), r.stored_ns))
    yield out, None


STARTED_NS = time.time_ns()
"""When this process started (why: the poison it replays from before then is old news)."""


def poison_level(stored_ns: int) -> int:
    """How loud to log an event that cannot be read or folded: WARNING if it was stored while
    this process runs, INFO if it is history replayed at a start or by `replay --verify`, or
    if its time is not known (0: a subject's load; the views' follower, which reads every
    event with its time, warns of a new one).

    why: after `health --ack` every restart and every replay printed the same warnings again
    (newcomer19b F11); health lists what is not acknowledged, with its sequences, either way."""
    return logging.WARNING if stored_ns >= STARTED_NS else logging.INFO


_WARNED: dict[tuple[str, int], None] = {}
"""(subject, seq) of skipped events already logged (why: an executor reads a schedule's subject
at every trigger and logged the same poison line each time); bounded, oldest forgotten first."""
_WARNED_MAX = 1024


def _warn_skipped(r: RawRecord, envelope: UnknownEvent) -> None:
    key = (r.subject, r.seq)
    if key in _WARNED:
        return
    _WARNED[key] = None
    if len(_WARNED) > _WARNED_MAX:
        del _WARNED[next(iter(_WARNED))]
    kind = f" ({envelope.type})" if envelope.type not in ("", "?") else ""
    log.log(poison_level(r.stored_ns), "skipping event at seq %d on %s: %s%s", r.seq, r.subject,
            envelope.problem, kind)  # fmt: skip
