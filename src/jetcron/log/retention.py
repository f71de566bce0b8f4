"""Every appender follows the log's retention as it is now, not as it was at its start.

why: one replica sets the retention (`serve --retention`, the stream's metadata), but every
appender stamps it: the ticker leader on triggers and fires, each executor on its run events.
Read only at start, a running leader kept writing the old TTL and deleted what `status` said
was kept (newcomer17a F0).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from nats.js.errors import NotFoundError

from jetcron import subjects
from jetcron.domain.durations import format_duration
from jetcron.log.follow import rest

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from jetcron.log.stream import EventLog

log = logging.getLogger(__name__)

MAX_RETENTION_DAYS = 3650
"""The longest run-history retention (10 years); longer is refused: give `forever`.

why: nats-server adds a message's TTL to now in int64 nanoseconds; from about 86,000 days (in
2026) that overflows and it deletes every run event as soon as it is stored (newcomer20b F2:
`--retention 99999d` kept nothing, and said nothing)."""
MAX_RETENTION_S = MAX_RETENTION_DAYS * 86400


def ttl_s(retention_s: int | None) -> int | None:
    """The TTL an aging event carries: the retention, at most MAX_RETENTION_S (None: forever).

    why: a longer one set in the stream's metadata by hand (or by an older jetcron) must not
    delete at once what it meant to keep; `health` names it (projections/status.py)."""
    return min(retention_s, MAX_RETENTION_S) if retention_s else None


CHECK_S = 15.0
"""How often a running appender re-reads the retention (one STREAM.INFO)."""

_said: dict[str, tuple[int | None, int | None, float]] = {}
"""Per stream, the last change this process logged and when (monotonic). why: `up` runs a
scheduler and an executor, each following the retention; one change was logged twice
(newcomer19c #16)."""


def _first_to_say(stream: str, before: int | None, after: int | None) -> bool:
    """Whether no appender of this process logged this change lately (then this one does)."""
    now = time.monotonic()
    last = _said.get(stream)
    if last is not None and last[:2] == (before, after) and now - last[2] < 2 * CHECK_S:
        return False
    _said[stream] = (before, after, now)
    return True


async def follow(event_log: EventLog, stop: asyncio.Event, every_s: float = CHECK_S) -> None:
    """Re-read `event_log`'s retention from its stream every `every_s` until stop; one line
    when it changed."""
    while not await rest(stop, every_s):
        before = event_log.retention_s
        try:
            await event_log.load_retention()
        except Exception as err:  # noqa: BLE001 - keep the last one known; try again
            log.debug("retention of %s not re-read: %s", event_log.stream, err)
            continue
        if event_log.retention_s != before and _first_to_say(
            event_log.stream, before, event_log.retention_s
        ):
            log.warning(
                "stream %s: run history now kept %s (was %s); events appended from now on "
                "carry it", event_log.stream, kept(event_log.retention_s), kept(before),
            )  # fmt: skip


def changed_here(stream: str, before: int, after: int) -> None:
    """This process set the log's retention: say so on its own output. why: a second `serve
    --retention 0` changed the whole log to forever and said nothing; only the other
    processes logged it (newcomer19c #4)."""
    if before == after:
        return
    _first_to_say(stream, before or None, after or None)  # why: the others here need not repeat it
    log.warning(
        "stream %s: run history now kept %s (was %s), set by this process (--retention); "
        "every process appending to the log follows within %.0f s",
        stream, kept(after), kept(before), CHECK_S,
    )  # fmt: skip


def kept(seconds: int | None) -> str:
    """A retention as `status` and `--retention` say it: 30d, 2d12h, forever (newcomer20b F7:
    the log said `7344000000 s`)."""
    return format_duration(timedelta(seconds=seconds)) if seconds else "forever"


RUN_HISTORY = tuple(f"{subjects.PREFIX}.{kind}.>" for kind in ("trigger", "fire", "run"))
"""Where a run row's or a fire-ledger entry's events are (they all age out)."""

HORIZON_KEEP_S = 5.0
"""How long a horizon read stays the answer (queries come in bursts; the log ages slowly)."""
HELD_KEEP_S = 60.0
"""How long a sequence found held is taken as held (it was stored with a longer TTL)."""
GONE_ASKED_AT_ONCE = 32
GONE_KEPT = 100_000
"""Sequences remembered as gone, at most (then forgotten and asked about again)."""


class Horizon:
    """The log's run-history horizon: the oldest trigger, fire or run event it still holds.

    Every such event with a lower sequence has aged out, so a view row whose first event is
    older describes history the log no longer has (fires and why mark it `forgotten`, `runs
    logs` says its output aged out). why a read, not a fold: JetStream deletes by TTL without
    an event, so the views never learn of it; and why the oldest held, not the newest gap:
    one request per kind, and with a TTL changed later it errs towards "still held".
    """

    def __init__(self, js: JetStreamContext, stream: str) -> None:
        self.js, self.stream = js, stream
        self._seq, self._read_at = 0, float("-inf")
        self._gone: set[int] = set()
        self._held: dict[int, float] = {}
        """Sequences found held, and when (monotonic)."""

    async def seq(self) -> int:
        """The horizon (0: unknown, nothing is taken as aged out); re-read after HORIZON_KEEP_S."""
        if time.monotonic() - self._read_at < HORIZON_KEEP_S:
            return self._seq
        try:
            held = [await self._first(kinds) for kinds in RUN_HISTORY]
            self._seq = min(held, default=0)
        except Exception as err:  # noqa: BLE001 - a query is answered without it
            log.debug("run-history horizon of %s not read: %s", self.stream, err)
            self._seq = 0
        self._read_at = time.monotonic()
        return self._seq

    async def gone(self, seqs: Iterable[int]) -> set[int]:
        """Which of `seqs` the log no longer holds, asked one by one (GONE_ASKED_AT_ONCE at a
        time): a missing one is remembered, a held one for HELD_KEEP_S."""
        now = time.monotonic()
        ask = {
            s for s in seqs if s not in self._gone and now - self._held.get(s, -1e9) > HELD_KEEP_S
        }
        if ask:
            gate = asyncio.Semaphore(GONE_ASKED_AT_ONCE)
            found = await asyncio.gather(*(self._holds(s, gate) for s in sorted(ask)))
            if len(self._gone) > GONE_KEPT:
                self._gone.clear()  # why: bounded; what is still asked about is asked again
            self._held = {s: t for s, t in self._held.items() if now - t <= HELD_KEEP_S}
            for seq, held in zip(sorted(ask), found, strict=True):
                if held:
                    self._held[seq] = now
                else:
                    self._gone.add(seq)
        return {s for s in seqs if s in self._gone}

    async def _holds(self, seq: int, gate: asyncio.Semaphore) -> bool:
        async with gate:
            try:
                await self.js.get_msg(self.stream, seq, direct=True)
            except NotFoundError:
                return False
            except Exception as err:  # noqa: BLE001 - cannot tell: taken as held
                log.debug("log seq %d not asked about: %s", seq, err)
            return True

    async def _first(self, subject: str) -> int:
        """The oldest sequence held on `subject`, or one past the log's end if none is."""
        try:
            msg = await self.js.get_msg(self.stream, seq=1, subject=subject, next=True)
        except NotFoundError:
            info = await self.js.stream_info(self.stream)
            return int(info.state.last_seq) + 1
        return int(msg.seq or 0)
