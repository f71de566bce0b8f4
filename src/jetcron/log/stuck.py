"""Appends that get no ack while nats-server answers: a store it cannot write.

why: a really full disk gives no err 10023. nats-server logs `critical write error … no space
left on device`, leaves every append to that stream unanswered (the client times out) while
PINGs and its JetStream API still answer, and stays so after space is freed until it restarts
(measured, docs/nats-facts.md). A timeout alone is an outage; a timeout beside an API that
answers and no append stored since is this: the process's storage alarm says so, like log_full.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nats.aio.client import Client

from jetcron.log.api import js_api
from jetcron.log.errors import STORAGE, STORE_STUCK_HINT

log = logging.getLogger(__name__)
PROBE_S = 2.0
"""How long JetStream's API has to answer the probe (it answers at once when only the store is stuck)."""

_probe: asyncio.Task[None] | None = None
"""why: one probe at a time per process; a stall times out every append at once."""


def unacked(nc: Client, subject: str) -> None:
    """An append to `subject` got no ack in time: ask JetStream, in the background, whether
    it answers at all; if it does and nothing was stored meanwhile, raise the storage alarm."""
    global _probe
    if (_probe is not None and not _probe.done()) or not nc.is_connected:
        return
    _probe = asyncio.get_running_loop().create_task(_ask(nc, subject, STORAGE.stored))


async def _ask(nc: Client, subject: str, stored: int) -> None:
    at = time.time()
    try:
        reply = await nc.request(js_api("INFO"), b"", timeout=PROBE_S)
    except Exception as err:  # noqa: BLE001 - no answer: NATS is away, not (only) the store
        log.debug("store probe: JetStream did not answer (%s)", err)
        return
    if b'"error"' in reply.data or STORAGE.stored != stored:
        return  # why: JetStream disabled/unavailable is another fault; a stored append ends it
    if STORAGE.since is None:
        log.warning(
            "appends to %s get no ack while nats-server answers: %s", subject, STORE_STUCK_HINT
        )
    STORAGE.refused(subject, at, cause=STORE_STUCK_HINT)
