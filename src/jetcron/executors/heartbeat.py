"""The executor's beat loop: put its ExecutorInfo every `interval` seconds until stopped.

Clock offset: the executor notes its clock before (t0) and after (t1) a put is acked and
reads back the server's store timestamp ts of that message; ts was taken between t0 and
t1, so `offset = (t0 + t1) / 2 - ts` (host minus server) is off by at most
`(t1 - t0) / 2`, reported as `clock_error_s`. Each heartbeat carries the previous
measurement.

Every beat is a compare-and-set on our own last revision (executors/naming.py): a beat that
finds the key changed looks at it: gone (it expired while NATS was away) or ours (an ack we
lost) is taken again; another executor's means our name was taken, and we stop beating and
set `lost`, without removing its key on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import msgspec
from nats.aio.client import Client

from jetcron.clock import Clock, SystemClock
from jetcron.executors import reach
from jetcron.executors.admission import HostSampler
from jetcron.executors.naming import NameTaken, same_instance, stamped
from jetcron.log import heartbeats
from jetcron.log.connection import answering
from jetcron.log.errors import STORAGE_FULL, ConcurrencyConflict, storage_full
from jetcron.log.follow import rest
from jetcron.log.heartbeats import TTL_INTERVALS, ExecutorInfo, ttl_s

__all__ = ["TTL_INTERVALS", "Heartbeat"]

log = logging.getLogger(__name__)


class Heartbeat:
    """Puts one executor's ExecutorInfo every `interval` seconds until stopped."""

    def __init__(
        self,
        nc: Client,
        identity: ExecutorInfo,
        *,
        running: Callable[[], list[str]],
        sampler: HostSampler | None = None,
        clock: Clock | None = None,
        revision: int | None = None,
        problems: Callable[[], list[str]] | None = None,
    ) -> None:
        self.nc = nc
        self.problems = problems or list
        self.identity = stamped(identity)
        self.running = running
        self.sampler = sampler or HostSampler()
        self.clock = clock or SystemClock()
        self.ttl_s = ttl_s(identity.interval_s)
        self.revision = revision
        """Our last write to the key (the next beat's CAS); None: not claimed, the first beat
        is a plain put (an executor started without `naming.claim`)."""
        self.lost = asyncio.Event()
        """Set when another executor took our name: we stopped beating."""
        self.taken_by: ExecutorInfo | None = None
        self.offset: tuple[float, float] | None = None
        self._bucket_ready = False
        self.steady_since: float | None = None
        """Monotonic time since which every beat succeeded (None right after a failure)."""
        self.failures = 0
        """Beats failed in a row."""
        self._failing = ""
        """What the last failures were (logged once per kind in a row)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Beat until `stop`, then remove the key."""
        await self._beat_safely()  # why: the next one, right away, carries the measured offset
        try:
            while not stop.is_set() and not self.lost.is_set():
                # why: a beat waits out its timeout while NATS is gone; stopping, that is no
                # reason to stay (newcomer20a #16); remove() then says the key expires itself
                with contextlib.suppress(reach.Unreachable):
                    await reach.unless_away(self.nc, stop, self._beat_safely(), away_s=0.0)
                await rest(stop, self.identity.interval_s)
        finally:
            if not self.lost.is_set():
                await self.remove()

    async def _beat_safely(self) -> None:
        if self.lost.is_set():
            return
        try:
            await self.beat()
        except NameTaken as err:
            self.steady_since = None
            log.error("%s", err)
            self.taken_by = err.holder
            self.lost.set()
        except Exception as err:  # noqa: BLE001 - liveness must never stop the executor
            self.steady_since = None
            self._failed(err)
        else:
            self.steady_since = self.steady_since or time.monotonic()
            if self.failures:
                # why WARNING: the pair of the warning that said it failed (as the journal's
                # "writable again" and NATS's "reachable again"); `up` shows warnings only
                log.warning(
                    "heartbeat of %s stored again (after %d failed)",
                    self.identity.name,
                    self.failures,
                )
                self.failures, self._failing = 0, ""

    def _failed(self, err: Exception) -> None:
        """Log a failed beat: once per kind of failure in a row, in words (not a 503 repr).

        why: a full JetStream refuses every beat for as long as it is full; a line every 5 s
        buried the one that says why."""
        self.failures += 1
        full = storage_full(err)
        kind = "full" if full else str(err) or type(err).__name__
        if kind == self._failing:
            log.debug("heartbeat of %s failed again: %s", self.identity.name, err)
            return
        self._failing = kind
        if full:
            log.warning(
                "heartbeat of %s not stored: log full (JetStream has no storage left, err_code "
                "%d): `executors`, health and its peers do not see it online until there is "
                "room; retrying every %.0f s, quietly",
                self.identity.name,
                STORAGE_FULL,
                self.identity.interval_s,
            )
        else:
            log.warning("heartbeat of %s failed: %s", self.identity.name, err)

    def steady_for(self, seconds: float) -> bool:
        """Our beats have succeeded for at least `seconds`: peers have had time to beat too."""
        return self.steady_since is not None and time.monotonic() - self.steady_since >= seconds

    async def beat(self) -> None:
        """Put one heartbeat and measure the clock offset with it."""
        if not self._bucket_ready:
            await heartbeats.require_bucket(self.nc)
            self._bucket_ready = True
        sample = await asyncio.to_thread(self.sampler.sample)
        offset, error = self.offset if self.offset is not None else (None, None)
        t0 = self.clock.now()
        info = msgspec.structs.replace(
            self.identity,
            running=self.running(),
            problems=self.problems(),
            cpu_percent=sample.cpu_percent,
            memory_percent=sample.memory_percent,
            load=sample.load_per_core,
            host_time=t0,
            clock_offset_s=offset,
            clock_error_s=error,
        )
        seq = await self._put(info)
        t1 = self.clock.now()
        stored_at = await heartbeats.stored_at(self.nc, seq)
        if stored_at is not None:
            midpoint = t0 + (t1 - t0) / 2
            self.offset = ((midpoint - stored_at).total_seconds(), (t1 - t0).total_seconds() / 2)

    async def _put(self, info: ExecutorInfo) -> int:
        """Write a beat with CAS on our last revision; NameTaken if another executor has it."""
        try:
            seq = await heartbeats.put(self.nc, info, self.ttl_s, expect=self.revision)
        except ConcurrencyConflict:
            revision, held = await heartbeats.current(self.nc, info.name)
            if held is not None and not same_instance(held, info):
                raise NameTaken(info.name, held) from None
            # why: gone (it expired while NATS was away, nobody took it) or our own beat whose
            # ack was lost: ours to write again, still CAS so a racer cannot slip in unseen.
            seq = await heartbeats.put(self.nc, info, self.ttl_s, expect=revision)
        self.revision = seq
        return seq

    async def remove(self) -> None:
        """Purge our key (best effort): we are going away on purpose."""
        if not await answering(self.nc):  # why: a frozen NATS would hold us for a 5 s timeout
            log.warning(
                "heartbeat of %s not removed: NATS not answering; it expires within %d s",
                self.identity.name,
                self.ttl_s,
            )
            return
        if self.revision is None:
            return  # why: nothing of ours was stored (or not known to be): not ours to purge
        try:
            await heartbeats.remove(self.nc, self.identity.name, expect=self.revision)
        except ConcurrencyConflict:
            log.info("heartbeat of %s not removed: the name is another's now", self.identity.name)
        except Exception as err:  # noqa: BLE001 - the TTL removes it anyway
            log.warning("could not remove heartbeat of %s: %s", self.identity.name, err)
