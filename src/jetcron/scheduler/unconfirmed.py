"""The ticker's appends whose ack never came: what became of them, once the log says.

why: nats-py holds what is published while it reconnects and sends it when NATS is back, so a
missing ack means "not known yet", not "not stored". Every event the ticker appends carries its
Nats-Msg-Id (the fire id, or a run's) as the envelope's causation id, so the reader (or the ack
of a retry under the same id) finds out, and the ticker logs the real outcome. Nothing here
decides anything: a fire not stored is decided again like any other (same fire id, stored once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from jetcron.domain.envelope import StoredEvent
from jetcron.log.acks import PubAck

log = logging.getLogger("jetcron.scheduler.ticker")
FORGET_AFTER_S = 600.0
"""How long an unconfirmed append is looked for (past the 2-minute duplicate window)."""
LIMIT = 10_000
"""At most this many are looked for (a long outage in a big deployment): the oldest go first."""


class Unconfirmed:
    """Appends sent but not acked, by Nats-Msg-Id, until the log or an ack shows their fate."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._waiting: dict[str, tuple[str, float]] = {}
        """msg id -> (what it was, e.g. `Trigger for backup (fire …)`, when the ack was missed)."""

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def __contains__(self, msg_id: object) -> bool:
        return msg_id in self._waiting

    def add(self, msg_id: str, what: str, err: Exception) -> None:
        """An append of `what` got no ack (`err`): say so truthfully and look for it."""
        self._forget_old()
        log.warning(
            "ticker: %s not confirmed: %s; NATS may still store it (what was sent while the "
            "connection was down is sent again on reconnect): the log will tell, and a retry "
            "under the same id is stored at most once",
            what,
            err,
        )
        self._waiting[msg_id] = (what, self._clock())

    def acked(self, msg_id: str, ack: PubAck) -> None:
        """A later append under the same id was acked: report what it found."""
        if (found := self._waiting.pop(msg_id, None)) is None:
            return
        if ack.duplicate:
            log.info("ticker: %s is in the log after all (seq %d)", found[0], ack.seq)
        else:
            log.info(
                "ticker: %s was not stored while NATS was away; stored now (seq %d)",
                found[0],
                ack.seq,
            )

    def seen(self, stored: StoredEvent) -> None:
        """The reader folded `stored`: if it is one we wait for, report it."""
        msg_id = stored.envelope.causation_id
        if (found := self._waiting.pop(msg_id or "", None)) is None:
            return
        tag = type(stored.event).__struct_config__.tag
        log.info("ticker: %s: the log has %s for it at seq %d", found[0], tag, stored.seq)

    def _forget_old(self) -> None:
        now = self._clock()
        for msg_id, (what, since) in list(self._waiting.items()):
            if now - since < FORGET_AFTER_S and len(self._waiting) < LIMIT:
                break  # why: insertion order is age order
            del self._waiting[msg_id]
            log.warning(
                "ticker: %s: not in the log %.0f s later; taken as lost (a fire still due is "
                "decided again under its fire id)",
                what,
                now - since,
            )
