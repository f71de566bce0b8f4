"""Every appender follows the log's retention as it is now, not as it was at its start.

why: one replica sets the retention (`serve --retention`, the stream's metadata), but every
appender stamps it: the ticker leader on triggers and fires, each executor on its run events.
Read only at start, a running leader kept writing the old TTL and deleted what `status` said
was kept (newcomer17a F0).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from jetcron.log.follow import rest

if TYPE_CHECKING:
    from jetcron.log.stream import EventLog

log = logging.getLogger(__name__)

CHECK_S = 15.0
"""How often a running appender re-reads the retention (one STREAM.INFO)."""


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
        if event_log.retention_s != before:
            log.warning(
                "stream %s: run history now kept %s (was %s); events appended from now on "
                "carry it", event_log.stream, _kept(event_log.retention_s), _kept(before),
            )  # fmt: skip


def _kept(seconds: int | None) -> str:
    return f"{seconds} s" if seconds else "forever"
