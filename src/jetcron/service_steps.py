"""Start-up and shutdown steps of the scheduler service (service.py): start-up steps retried until
they work, the KV buckets, the cycle collector's pause, checkpoints stored at stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client

from jetcron import subjects
from jetcron.log import heartbeats, secrets, snapshots, withdrawal
from jetcron.log.connection import answering
from jetcron.log.errors import transient
from jetcron.log.follow import backoff, jittered, rest
from jetcron.log.lease import KvLease
from jetcron.memory import collector_paused

log = logging.getLogger("jetcron.service")  # why: its lines kept their logger's name (filters)


class CollectorPause:
    """Python's cycle collector off from its creation until the log reader has caught up.

    why: a first start (or one far behind its checkpoints) folds the whole log into the
    views and the ticker and keeps most of what it allocates, so the collector's full passes
    come every few batches and walk everything loaded so far: a third of a ticker load
    (measured; Ticker.catch_up pauses it alike). Cycles made meanwhile wait for it.
    """

    def __init__(self) -> None:
        self._pause = contextlib.ExitStack()
        self._pause.enter_context(collector_paused())  # why: the ticker's rule, held across tasks

    def end(self) -> None:
        """Turn it back on (once, and only if it was on)."""
        self._pause.close()

    async def until(
        self, current: asyncio.Event, stop: asyncio.Event, at_most_s: float = 600.0
    ) -> None:
        """End the pause once `current` (the reader caught up) or `stop` is set, or after
        `at_most_s` (why: a reader that cannot catch up is an outage, not a load, and its
        retries make garbage the collector must see)."""
        waits = [asyncio.ensure_future(current.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, timeout=at_most_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            self.end()


async def ensure_buckets(nc: Client, replicas: int = 1, lease: KvLease | None = None) -> None:
    """Create every KV bucket (the `lease`'s too, if given) and the snapshot store jetcron uses
    with `replicas` (the log's), or check each is as jetcron makes it and raise it to that.

    why here: under auth only the scheduler may create a bucket (whoever creates one chooses its
    config, log/buckets.py), so it makes them all before any executor or operator needs one.
    """
    scaled = {
        **({subjects.LEASE_BUCKET: await lease.ensure_bucket()} if lease else {}),
        subjects.COMMANDS_BUCKET: await withdrawal.ensure_bucket(nc, replicas),
        subjects.EXECUTORS_BUCKET: await heartbeats.ensure_bucket(nc, replicas),
        **await secrets.ensure_buckets(nc, replicas),
        subjects.SNAPSHOT_BUCKET: await snapshots.ensure_store(nc, replicas),
    }
    if raised := {name: s.before for name, s in scaled.items() if s.after > s.before}:
        log.warning(
            "raised to the log's %d replicas: %s",
            replicas,
            ", ".join(f"{name} (was {before})" for name, before in raised.items()),
        )


def stop_on_failure(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    """A part that failed (not one restarted by `supervise`) stops the whole replica.

    why: the task group cancels the other parts, but several of them wait for `stop` to wind
    down (they store checkpoints, release the lease); a start that failed (a taken metrics
    port, once) left the replica half up, answering queries, until Ctrl-C.
    """
    if not task.cancelled() and task.exception() is not None:
        stop.set()


async def until_done(what: str, step: Callable[[], Awaitable[None]], stop: asyncio.Event) -> bool:
    """Retry a start-up step with backoff until it works (True) or stop is set (False)."""
    attempt = 0
    while not stop.is_set():
        try:
            await step()
            return True
        except Exception as err:
            if not transient(err):
                raise
            attempt += 1
            delay = jittered(backoff(attempt))
            log.warning(
                "cannot %s yet (%s); retrying in %.1fs", what, str(err) or type(err).__name__, delay
            )
            await rest(stop, delay)
    return False


async def on_stop(
    nc: Client,
    stop: asyncio.Event,
    views: Callable[..., Awaitable[int | None]],
    *checkpoints: Callable[..., Awaitable[None]],
) -> None:
    """Store every fold's checkpoint as soon as stop is set, leader or not (so the next start
    reads only what came after; two replicas storing both store a valid state); one line says
    where (newcomer20b F11: `serve` stopped without a word)."""
    await stop.wait()
    if not await answering(nc):
        # why: each store would wait out its own request timeout (5 s) against a frozen NATS
        log.warning(
            "NATS not answering: checkpoints not stored (the next start reads the log from the "
            "last ones stored)"
        )
        return
    at = await views(leader_only=False)
    for checkpoint in checkpoints:
        await checkpoint(leader_only=False)
    if at is not None:  # why WARNING: what `serve` and `up` show (a failure said its own line)
        log.warning("checkpoints stored at seq %d: the next start reads the log from there", at)


async def quietly(what: str, step: Callable[[], Awaitable[object]]) -> None:
    """A clean-up step that must not hide why we are shutting down."""
    try:
        await step()
    except Exception as err:  # noqa: BLE001 - the real error (if any) is already on its way
        log.debug("%s on shutdown: %s", what, str(err) or type(err).__name__)
