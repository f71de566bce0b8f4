"""The projection service: folds the log into views, snapshots them, answers queries over NATS micro."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from nats.aio.client import Client

from jetcron import __version__, ids, memory
from jetcron.clock import Clock, SystemClock
from jetcron.domain.envelope import StoredEvent, UnknownEvent
from jetcron.errors import InvalidInput
from jetcron.log import retention, snapshots
from jetcron.log.connection import ConnectionWatch, answering
from jetcron.log.follow import FollowHealth, rest, set_within, supervise
from jetcron.log.lease import Leadership, SoloLease
from jetcron.log.stream import EventLog
from jetcron.projections import duties, rollups, serving, stats_alltime
from jetcron.projections.forget import DEFAULT_KEEP_DELETED
from jetcron.projections.metrics import Metrics
from jetcron.projections.snapshot import SNAPSHOT_VERSION, restore, snapshot
from jetcron.projections.staleness import Stale, verdict
from jetcron.projections.state import Views, apply_batch, new_views, record_undecodable
from jetcron.projections.window import DEFAULT_KEEP

log = logging.getLogger(__name__)
SNAPSHOT_OBJECT = "views"
STATE_INLINE_MAX = 512 * 1024
"""A `state` answer larger than this goes through the snapshot object store (NATS max_payload)."""
STATE_OBJECT_KEEP_S = 60.0
"""How long a `state` answer too large for a message stays in the snapshot store: the service
that wrote it deletes it then (the asker reads it at once: 185 MiB took 0.6-3.3 s). why not the
asker: an operator's or auditor's role may read the store but not change it (the views'
checkpoints live there too)."""
STATE_PREFIX = "state-"
"""`state` answers stored as objects are named `state-<unix seconds>-<id>`."""
LOG_SILENT_S = 5.0
"""After the log did not say how far it goes, queries this long after answer (marked stale)
without asking it again."""
_encoder = msgspec.json.Encoder()


class ProjectionService:
    """Keeps Views current from the log and serves jetcron.q.* queries."""

    def __init__(
        self,
        nc: Client,
        event_log: EventLog,
        *,
        snapshot_every: int = 10_000,
        metrics_port: int | None = None,
        metrics: Metrics | None = None,
        lease: Leadership | None = None,
        clock: Clock | None = None,
        connection: ConnectionWatch | None = None,
        followers: dict[str, FollowHealth] | None = None,
        keep: int = DEFAULT_KEEP,
        keep_deleted: int = DEFAULT_KEEP_DELETED,
        rollup_grace: timedelta = rollups.DEFAULT_GRACE,
        rollup_every_s: float = 60.0,
    ) -> None:
        self.nc, self.log = nc, event_log
        self.keep, self.keep_deleted = keep, keep_deleted
        self.views = new_views(keep, keep_deleted)
        self.rollup_grace, self.rollup_every_s = rollup_grace, rollup_every_s
        self.snapshot_every = snapshot_every
        self.lease = lease or SoloLease()
        self.clock = clock or SystemClock()
        self.metrics = metrics or (Metrics(metrics_port) if metrics_port else None)
        """Served already if passed in (the CLI starts it first); else started by run()."""
        self._start_metrics = metrics is None and self.metrics is not None
        self._applied = asyncio.Event()
        self._log_silent_until = 0.0
        """Until when (monotonic) `sync` does not ask the log for its end (it just did not answer)."""
        self.log_away_at: float | None = None
        """When (monotonic) the log was last out of reach (hosts.HEARD_AGAIN_S)."""
        self.reconnects = nc.stats["reconnects"]
        """NATS reconnects seen so far (a new one counts as the log out of reach)."""
        self.cadence = snapshots.Cadence(snapshot_every)
        self.started_at = time.time()
        self.connection = connection or ConnectionWatch()
        self.health = FollowHealth("projections")
        self.followers = followers if followers is not None else {}
        """Every follower of this process by name (ours included), for `status` and `health`."""
        self.followers[self.health.name] = self.health
        self._answers: set[asyncio.Task[None]] = set()
        """Deletions of `state` answer objects, each due STATE_OBJECT_KEEP_S after its answer."""
        self.stats_cache = stats_alltime.Cache()
        self.no_quorum: str | None = None
        """Why the log takes no appends (its cluster lost its quorum), as `sync` last saw it."""
        self.horizon = retention.Horizon(nc.jetstream(), event_log.stream)
        """The log's run-history horizon, read for queries (rows older have aged out)."""
        """Per-schedule parts of the last `stats` answers (rebuilt as schedules change)."""

    @property
    def position(self) -> int:
        """The last sequence the views reflect."""
        return self.views.position

    async def run(
        self, stop: asyncio.Event, ready: asyncio.Event | None = None, *, fed: bool = False
    ) -> None:
        """Restore, follow the log, serve queries until stop; snapshot on the way out.

        `fed`: a shared reader (serve's `Fanout`, reporting to `self.health`) feeds the views
        through `take`, and the caller has restored them; no reader of our own.
        """
        if not fed:
            await self.restore()
        service = await serving.serve(self)
        follow = (
            None
            if fed
            else asyncio.ensure_future(supervise(self.follow, health=self.health, stop=stop))
        )
        gauges = asyncio.ensure_future(self._update_gauges(stop))
        expect = asyncio.ensure_future(duties.expect_forever(self, stop))
        rolling = asyncio.ensure_future(duties.roll_up_forever(self, stop))
        sweep = asyncio.ensure_future(self._sweep_answers(stop))
        self._metrics_started()
        if ready is not None:
            ready.set()
        try:
            await stop.wait()
        finally:
            if follow is not None:
                follow.cancel()
            gauges.cancel()
            expect.cancel()
            rolling.cancel()
            sweep.cancel()
            for answer in self._answers:
                answer.cancel()  # why: a crash leaves them too; only the next `state` is lost
            await self._wind_down(service, fed)

    def _metrics_started(self) -> None:
        """Serve the metrics if we are to; a taken port is said and the rest runs."""
        if self.metrics is None or not self._start_metrics:
            return
        try:
            self.metrics.start()
        except InvalidInput as err:
            log.warning("metrics not served: %s", err)
            self.metrics = None

    async def _wind_down(self, service: Any, fed: bool) -> None:
        """Drain the query service and (not fed) store the snapshot, if NATS still answers."""
        if not await answering(self.nc):
            # why: the drain and the snapshot would each wait out a timeout (10 s, 5 s) against
            # a frozen NATS; the connection's close drops the subscriptions anyway
            if not fed:
                log.warning("NATS not answering: views' snapshot not stored on the way out")
            return
        try:
            await service.stop()
        except Exception as err:  # noqa: BLE001 - closing must not hide why we are closing
            log.debug("query service stop: %s", err)
        if not fed:  # why: fed, the caller checkpoints every fold as soon as stop is set
            await self.save_snapshot()

    async def restore(self) -> None:
        """Load the last snapshot, if any (else start from sequence 1)."""
        try:
            data = await snapshots.load(self.nc, SNAPSHOT_OBJECT)
        except Exception as err:  # noqa: BLE001 - a broken snapshot means a slower start, not an outage
            log.warning("projection snapshot unavailable (%s); rebuilding from the log", err)
            return
        views = restore(data) if data is not None else None
        if views is not None and (views.keep, views.keep_deleted) != (self.keep, self.keep_deleted):
            # why: the windows must be the ones the same events give with this keep (rebuild == live)
            log.info(
                "projection snapshot kept %d runs per schedule and %d deleted schedules, "
                "now %d and %d: rebuilding",
                views.keep,
                views.keep_deleted,
                self.keep,
                self.keep_deleted,
            )
            views = None
        if views is not None:
            self.views = views
            log.info("projections restored at seq %d", views.position)

    async def save_snapshot(self, *, leader_only: bool = True) -> int | None:
        """Store the views with their position (by default the leader only: all replicas hold
        the same state; any replica on its way out); the position stored, None if none was."""
        if (leader_only and not self.lease.is_leader()) or not self.nc.is_connected:
            return None
        try:
            started, at = time.monotonic(), self.views.position
            await snapshots.save(self.nc, SNAPSHOT_OBJECT, snapshot(self.views))
            self.cadence.taken(started)
            log.info("projection snapshot at seq %d", at)
            memory.give_back()
        except Exception as err:  # noqa: BLE001 - next snapshot will try again
            log.warning("projection snapshot failed: %s", err)
            return None
        return at

    async def follow(self) -> None:
        """Apply the log from our position on, forever."""
        async for batch in self.log.read(
            from_seq=self.views.position + 1,
            follow=True,
            on_skipped=self._undecodable,
            health=self.health,
        ):
            await self.take(batch)

    async def take(self, batch: list[StoredEvent]) -> None:
        """Fold one batch (events at or below our position are skipped); snapshot when due."""
        apply_batch(self.views, batch)
        if self.metrics:
            self.metrics.observe(self.views, batch)
        self._applied.set()
        if self.cadence.folded(len(batch)):
            await self.save_snapshot()

    def undecodable(self, seq: int, unknown: UnknownEvent) -> None:
        """Count an event no view could decode (the shared reader's on_skipped)."""
        self._undecodable(seq, unknown)

    async def roll_up(self) -> int:
        """Append the daily rollups that are due (leader only, views current); how many."""
        return await duties.roll_up(self)

    async def check_hosts(self) -> int:
        """Append executor.offline/online where the heartbeats and the log disagree."""
        return await duties.check_hosts(self)

    async def check_expectations(self) -> int:
        """Append the expectation.missed/met events owed now; how many were decided."""
        return await duties.check_expectations(self)

    async def answer(
        self, fn: Callable[..., Any], data: bytes
    ) -> tuple[bytes, tuple[str, str] | None, Stale | None]:
        """Run one query (`serving.answer`): (JSON, None, stale) or (details, (code, message), stale)."""
        return await serving.answer(self, fn, data)

    async def _update_gauges(self, stop: asyncio.Event) -> None:
        from jetcron.log.heartbeats import list_executors

        while self.metrics is not None and not stop.is_set():
            try:
                online = await list_executors(self.nc)
                self.metrics.set_lag(await self.log.last_seq(), self.views.position, len(online))
            except Exception as err:  # noqa: BLE001 - metrics must never take the service down
                log.debug("metrics gauges: %s", err)
            await asyncio.sleep(5)

    def _undecodable(self, seq: int, unknown: UnknownEvent) -> None:
        record_undecodable(self.views, seq, unknown.type, unknown.problem, unknown.name)
        self._applied.set()

    async def sync(self, timeout: float = 2.0) -> int | None:
        """Wait until the views reflect the log as it is now (read-your-writes for the CLI).

        Returns how many events they are still behind, None if the log did not say how far it goes.
        """
        deadline = time.monotonic() + timeout
        if deadline - timeout < self._log_silent_until:
            # why: a query service answers one query of a kind at a time; with the stream's
            # leader on a frozen node each query waited its 2 s here, and those queued behind
            # them timed out on the asker's side although this replica was fine (newcomer17b)
            return None
        try:
            async with asyncio.timeout(timeout):  # why: not wait_for (log/follow.set_within)
                target, self.no_quorum = await self.log.end()
        except Exception as err:  # noqa: BLE001 - NATS or the stream is away: answer, marked stale
            self.log_away_at = time.monotonic()
            if isinstance(err, TimeoutError):  # why: a stall, not a fast "unreachable"
                self._log_silent_until = time.monotonic() + LOG_SILENT_S
            log.info(
                "projections: cannot ask the log for its end: %s", str(err) or type(err).__name__
            )
            return None
        # why: with the follower down, waiting for it only delays a (stale-marked) answer.
        while (
            self.views.position < target
            and self.health.down_since is None
            and time.monotonic() < deadline
        ):
            self._applied.clear()
            if not await set_within(self._applied, deadline - time.monotonic()):
                break
        if self.views.position < target and not await self._holds_after(self.views.position):
            # why: the log's tail aged out before these views read it (a replica started, or
            # restored from an older snapshot, after a quiet spell longer than the retention):
            # nothing is left to read, so the views are current, not "behind" for good
            self.views.position = target
        return max(0, target - self.views.position)

    async def _holds_after(self, seq: int) -> bool:
        try:
            async with asyncio.timeout(2.0):
                return await self.log.holds_after(seq)
        except Exception:  # noqa: BLE001 - cannot tell: behind, as the log said
            return True

    def staleness(self, behind: int | None) -> Stale | None:
        """Whether answers now may lack events (and since when)."""
        h = self.health
        return verdict(
            behind=behind,
            down_since=h.down_since,
            error=h.error,
            current_at=h.current_at,
            started_at=self.started_at,
            no_quorum=self.no_quorum,
        )

    async def state_answer(self, views: Views, params: dict[str, Any], now: datetime) -> Any:
        """The whole state, for `jetcron replay --verify`: inline, or the name of an object
        holding it when it is larger than a NATS message may be (deleted STATE_OBJECT_KEEP_S
        later)."""
        # why: views of two jetcron versions may differ by design; --verify says so, not DIFFERENT
        made_by = {"version": __version__, "format": SNAPSHOT_VERSION}
        state = {"position": views.position, "views": msgspec.to_builtins(views), **made_by}
        data = _encoder.encode(state)
        if len(data) <= STATE_INLINE_MAX:
            return state
        name = f"{STATE_PREFIX}{int(time.time())}-{ids.new_id()}"
        await snapshots.save(self.nc, name, data)
        task = asyncio.create_task(self._forget_answer(name), name=f"delete {name}")
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)
        return {"position": views.position, "object": name, **made_by}

    async def _sweep_answers(self, stop: asyncio.Event) -> None:
        """Delete `state` answers left behind by a replica that stopped before their time ran
        out (a restart or a crash within a minute of a `replay --verify`).

        why: each is the size of the whole state, and nothing else would ever delete it.
        """
        while not stop.is_set():
            try:
                for name in await snapshots.names(self.nc):
                    if stale_answer(name, time.time()):
                        await snapshots.delete(self.nc, name)
                        log.info("deleted a leftover `state` answer %s", name)
            except Exception as err:  # noqa: BLE001 - a leftover answer waits for the next sweep
                log.debug("state answers not swept: %s", err)
            await rest(stop, STATE_OBJECT_KEEP_S)

    async def _forget_answer(self, name: str) -> None:
        await asyncio.sleep(STATE_OBJECT_KEEP_S)
        try:
            await snapshots.delete(self.nc, name)
        except Exception as err:  # noqa: BLE001 - a leftover answer is small and harmless
            log.warning("state answer %s not deleted: %s", name, err)


def stale_answer(name: str, now: float) -> bool:
    """Whether an object is a `state` answer older than STATE_OBJECT_KEEP_S (pure).

    An answer named before answers carried their time (`state-<id>`) counts as stale."""
    if not name.startswith(STATE_PREFIX):
        return False
    stamp = name[len(STATE_PREFIX) :].partition("-")[0]
    return not stamp.isdigit() or now - int(stamp) > 2 * STATE_OBJECT_KEEP_S
