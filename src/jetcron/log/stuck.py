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
from jetcron.log.follow import set_within
from jetcron.subjects import STREAM, kv_stream

log = logging.getLogger(__name__)
PROBE_S = 2.0
"""How long JetStream's API has to answer the probe (it answers at once when only the store is stuck)."""

RECHECK_S = 0.5
"""How often a raised alarm looks for a reconnect (a cheap attribute read)."""

_probe: asyncio.Task[None] | None = None
"""why: one probe at a time per process; a stall times out every append at once."""
_decided: asyncio.Event | None = None
"""Set once the current probe has raised the alarm or found no cause to (see `settled`)."""


def unacked(nc: Client, subject: str, reconnects: int, sent: float | None = None) -> None:
    """An append to `subject`, sent (at `sent`) when the connection had made `reconnects`
    reconnects, got no ack in time: ask JetStream, in the background, whether it answers at
    all; if it does and nothing was stored on that stream meanwhile, raise the storage alarm
    (since `sent`: why: the fires due while the first append waited fell into the stall)."""
    global _probe
    loop = asyncio.get_running_loop()
    if not nc.is_connected or nc.stats["reconnects"] != reconnects:
        return  # why: a reconnect (a restart, an outage) explains a lost ack
    if _probe is not None and _busy(_probe, loop):
        return
    global _decided
    stream, _decided = stream_of(subject), asyncio.Event()
    _probe = loop.create_task(
        _ask(nc, subject, stream, STORAGE.stored[stream], _decided, sent or time.time())
    )


async def settled() -> None:
    """Until the probe of the last unacked append has decided (at most PROBE_S): whether the
    store is stuck is then in STORAGE."""
    decided = _decided
    if decided is None or _probe is None or _probe.get_loop() is not asyncio.get_running_loop():
        return
    await set_within(decided, PROBE_S + 0.5)


def stuck(subject: str) -> bool:
    """Whether the store of `subject`'s stream is known stuck (a retry would get no ack either)."""
    return STORAGE.since is not None and STORAGE.stream == stream_of(subject)


def _busy(probe: asyncio.Task[None], loop: asyncio.AbstractEventLoop) -> bool:
    # why: a task of a loop that has ended (one asyncio.run before) never finishes
    return not probe.done() and probe.get_loop() is loop and not loop.is_closed()


def stream_of(subject: str) -> str:
    """The stream jetcron appends `subject` to: a KV bucket's, else the log."""
    if subject.startswith("$KV."):
        return kv_stream(subject.split(".")[1])
    return STREAM


async def _ask(
    nc: Client, subject: str, stream: str, stored: int, decided: asyncio.Event, sent: float
) -> None:
    try:
        if await _stuck(nc, stream, stored):
            STORAGE.refused(subject, sent, cause=STORE_STUCK_HINT, stream=stream)
    finally:
        decided.set()
    if STORAGE.since is not None and STORAGE.stream == stream:
        await _until_restarted(nc, stream)


async def _stuck(nc: Client, stream: str, stored: int) -> bool:
    """Whether JetStream answers while nothing was stored on `stream` since the lost ack."""
    try:
        reply = await nc.request(js_api("INFO"), b"", timeout=PROBE_S)
    except Exception as err:  # noqa: BLE001 - no answer: NATS is away, not (only) the store
        log.debug("store probe: JetStream did not answer (%s)", err)
        return False
    if b'"error"' in reply.data or STORAGE.stored[stream] != stored:
        return (
            False  # why: JetStream disabled/unavailable is another fault; a stored append ends it
        )
    if STORAGE.since is None:
        log.warning(
            "appends to %s get no ack while nats-server answers: %s", stream, STORE_STUCK_HINT
        )
    return True


async def _until_restarted(nc: Client, stream: str) -> None:
    """Clear the alarm when the connection comes back after a drop (nats-server restarted:
    what ends a stuck store), unless a stored append ended it first.

    why: a replica with nothing due appends nothing, so no ack of its own would clear it;
    if the store is still stuck, the next unacked append raises it again."""
    reconnects = nc.stats["reconnects"]
    while STORAGE.since is not None and STORAGE.stream == stream:
        if nc.stats["reconnects"] != reconnects and nc.is_connected:
            log.info("nats-server is back after a restart: appends to %s are tried again", stream)
            STORAGE.accepted(stream)
            return
        await asyncio.sleep(RECHECK_S)
