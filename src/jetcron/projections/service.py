"""The projection service: folds the log into views, snapshots them, answers queries over NATS micro."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import ServiceConfig

from jetcron import __version__, ids, memory, subjects
from jetcron.clock import Clock, SystemClock
from jetcron.domain.envelope import Envelope, StoredEvent, UnknownEvent, event_type
from jetcron.domain.errors import CalendarNotFound, ScheduleNotFound
from jetcron.domain.events import ExecutorOnline, StatsRolledUp
from jetcron.errors import InvalidInput, JetcronError
from jetcron.log import snapshots
from jetcron.log.connection import ConnectionWatch, answering
from jetcron.log.errors import STORAGE
from jetcron.log.follow import FollowHealth, iso, rest, supervise
from jetcron.log.lease import KvLease, Leadership, SoloLease, last_written, lease_holder
from jetcron.log.replicas import replica_answer
from jetcron.log.requests import packed, stale_headers
from jetcron.log.stream import EventLog, retention_of
from jetcron.projections import (
    backfill,
    expectations,
    forecast,
    health,
    hosts,
    queries,
    rollups,
    stats,
)
from jetcron.projections.forget import DEFAULT_KEEP_DELETED
from jetcron.projections.metrics import Metrics
from jetcron.projections.staleness import Stale, notes, verdict
from jetcron.projections.state import (
    SNAPSHOT_VERSION,
    Views,
    apply_batch,
    new_views,
    record_undecodable,
    restore,
    snapshot,
)
from jetcron.projections.window import DEFAULT_KEEP

log = logging.getLogger(__name__)
SNAPSHOT_OBJECT = "views"
EXPECT_EVERY_S = 1.0
"""How often the leader checks expectations."""
EXPECT_ACTOR = "system:expectations"
HOSTS_EVERY = 5
"""Expectation rounds between two looks at the executors' heartbeats."""
HOSTS_ACTOR = "system:heartbeats"
STATE_INLINE_MAX = 512 * 1024
"""A `state` answer larger than this goes through the snapshot object store (NATS max_payload)."""
STATE_OBJECT_KEEP_S = 60.0
STATE_PREFIX = "state-"
LOG_SILENT_S = 5.0
"""After the log did not say how far it goes, queries this long after answer (marked stale)
without asking it again."""
"""`state` answers stored as objects are named `state-<unix seconds>-<id>`."""
"""How long a `state` answer too large for a message stays in the snapshot store: the service
that wrote it deletes it then (the asker reads it at once: 185 MiB took 0.6-3.3 s). why not the
asker: an operator's or auditor's role may read the store but not change it (the views'
checkpoints live there too)."""
ROLLUP_ACTOR = "system:rollup"
Query = Callable[[Views, dict[str, Any], datetime], Any]

QUERIES: dict[str, Query] = {
    "schedules": queries.list_schedules,
    "schedule": queries.one_schedule,
    "due": queries.due,
    "runs": queries.list_runs,
    "run": queries.one_run,
    "stats": queries.stats_of,
    "audit": queries.audit_of,
    "ledger": queries.ledger_of,
    "fires": queries.fires_of,
    "why": queries.why_of,
    "notifications": queries.notifications_of,
    "whatif": forecast.what_if,
    "calendar_whatif": forecast.calendar_what_if,
    "backfill": backfill.backfill_plan,
    "conflicts": forecast.conflicts_of,
    "calendars": queries.list_calendars,
    "calendar": queries.one_calendar,
}
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
        self._log_away_at: float | None = None
        """When (monotonic) the log was last out of reach (hosts.HEARD_AGAIN_S)."""
        self._reconnects = nc.stats["reconnects"]
        """Until when (monotonic) `sync` does not ask the log for its end (it just did not answer)."""
        self.cadence = snapshots.Cadence(snapshot_every)
        self.started_at = time.time()
        self.connection = connection or ConnectionWatch()
        self.health = FollowHealth("projections")
        self.followers = followers if followers is not None else {}
        """Every follower of this process by name (ours included), for `status` and `health`."""
        self.followers[self.health.name] = self.health
        self._answers: set[asyncio.Task[None]] = set()
        """Deletions of `state` answer objects, each due STATE_OBJECT_KEEP_S after its answer."""
        self.stats_cache = stats.Cache()
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
        service = await self._serve()
        follow = (
            None
            if fed
            else asyncio.ensure_future(supervise(self.follow, health=self.health, stop=stop))
        )
        gauges = asyncio.ensure_future(self._update_gauges(stop))
        expect = asyncio.ensure_future(self._expectations(stop))
        rolling = asyncio.ensure_future(self._roll_up_forever(stop))
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

    async def save_snapshot(self, *, leader_only: bool = True) -> None:
        """Store the views with their position (by default the leader only: all replicas hold
        the same state; any replica on its way out)."""
        if (leader_only and not self.lease.is_leader()) or not self.nc.is_connected:
            return
        try:
            started = time.monotonic()
            await snapshots.save(self.nc, SNAPSHOT_OBJECT, snapshot(self.views))
            self.cadence.taken(started)
            log.info("projection snapshot at seq %d", self.views.position)
            memory.give_back()
        except Exception as err:  # noqa: BLE001 - next snapshot will try again
            log.warning("projection snapshot failed: %s", err)

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
        if not self.lease.is_leader() or await self.sync() != 0:
            return 0  # why: a view still catching up would roll up a day with results missing
        now = self.clock.now()
        items = [
            (
                subjects.stats(day.name),
                Envelope(
                    id=ids.new_id(),
                    at=now,
                    actor=ROLLUP_ACTOR,
                    event=StatsRolledUp(
                        schedule_id=day.schedule_id, name=day.name, day=day.day, digest=day.digest
                    ),
                ),
                rollups.msg_id(day.schedule_id, day.day),
            )
            for day in rollups.due(self.views.runs, now, self.rollup_grace)
        ]
        if not items:
            return 0
        # why: Nats-Msg-Id per (schedule, day): two leaders, or a retry, store one rollup
        results = await self.log.publish_many(items)
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            log.warning(
                "%d of %d daily rollups not stored yet: %s", len(failed), len(items), failed[0]
            )
        return len(items) - len(failed)

    async def _roll_up_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.roll_up()
            except Exception as err:  # noqa: BLE001 - the next round tries again
                log.warning("daily rollups: %s", str(err) or type(err).__name__)
            try:
                await asyncio.wait_for(stop.wait(), self.rollup_every_s)
            except TimeoutError:
                pass

    async def _update_gauges(self, stop: asyncio.Event) -> None:
        from jetcron.log.heartbeats import list_executors

        while self.metrics is not None and not stop.is_set():
            try:
                online = await list_executors(self.nc)
                self.metrics.set_lag(await self.log.last_seq(), self.views.position, len(online))
            except Exception as err:  # noqa: BLE001 - metrics must never take the service down
                log.debug("metrics gauges: %s", err)
            await asyncio.sleep(5)

    async def _expectations(self, stop: asyncio.Event) -> None:
        """On the leader, append what expectations are owed, every EXPECT_EVERY_S."""
        rounds = 0
        while not await rest(stop, EXPECT_EVERY_S):
            if not self.lease.is_leader():
                continue
            rounds += 1
            try:
                await self.check_expectations()
                if rounds % HOSTS_EVERY == 1:
                    await self.check_hosts()
            except Exception as err:  # noqa: BLE001 - the next round tries again (same msg ids)
                self._log_away_at = time.monotonic()
                log.warning("expectations not checked: %s", str(err) or type(err).__name__)

    async def check_hosts(self) -> int:
        """Append executor.offline/online where the heartbeats and the log disagree."""
        from jetcron.log.heartbeats import roster

        if await self.sync() != 0:
            return 0
        online, stopped = await roster(self.nc)
        live = {e.name: e.tags for e in online}
        now = self.clock.now()
        found = hosts.transitions(self.views.hosts, live, live, stopped, hold_offline=self._held())
        for event, msg_id in found:
            envelope = Envelope(id=ids.new_id(), at=now, actor=HOSTS_ACTOR, event=event)
            await self.log.append(subjects.host(event.name), [envelope], msg_id=msg_id)
            # why: coming online or stopping on purpose is news; a heartbeat that expired is trouble
            news = isinstance(event, ExecutorOnline) or event.stopped
            level = logging.INFO if news else logging.WARNING
            why = " (stopped)" if news and not isinstance(event, ExecutorOnline) else ""
            log.log(level, "executor %s: %s%s", event.name, event_type(event), why)
        return len(found)

    def _held(self) -> bool:
        """Whether the log was out of reach within HEARD_AGAIN_S (a reconnect counts too)."""
        if (reconnects := self.nc.stats["reconnects"]) != self._reconnects:
            self._reconnects, self._log_away_at = reconnects, time.monotonic()
        away = self._log_away_at
        return away is not None and time.monotonic() - away < hosts.HEARD_AGAIN_S

    async def check_expectations(self) -> int:
        """Append the expectation.missed/met events owed now; how many were decided."""
        if await self.sync() != 0:
            return 0  # why: a view behind the log could take a success for missing
        now = self.clock.now()
        verdicts = expectations.check(self.views, now)
        for v in verdicts:
            envelope = Envelope(id=ids.new_id(), at=now, actor=EXPECT_ACTOR, event=v)
            subject = subjects.expectation(v.name)
            await self.log.append(subject, [envelope], msg_id=expectations.msg_id(v))
            log.warning("%s: %s %s (%s)", v.name, event_type(v), v.kind, _why(v))
        return len(verdicts)

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
            target = await asyncio.wait_for(self.log.last_seq(), timeout)
        except Exception as err:  # noqa: BLE001 - NATS or the stream is away: answer, marked stale
            self._log_away_at = time.monotonic()
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
            try:
                await asyncio.wait_for(self._applied.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        return max(0, target - self.views.position)

    def staleness(self, behind: int | None) -> Stale | None:
        """Whether answers now may lack events (and since when)."""
        h = self.health
        return verdict(
            behind=behind,
            down_since=h.down_since,
            error=h.error,
            current_at=h.current_at,
            started_at=self.started_at,
        )

    async def _serve(self) -> Any:
        service = await add_service(
            self.nc,
            ServiceConfig(
                name=subjects.QUERY_SERVICE,
                version=__version__,
                queue_group=subjects.QUERY_SERVICE,
                description="jetcron projections: schedules, runs, stats, health, audit",
            ),
        )
        fns = {n: self._stats if fn is queries.stats_of else fn for n, fn in QUERIES.items()}
        fns |= {"health": self._health, "status": self._status, "state": self._state}
        fns["conflicts"] = self._conflicts
        shared = service.add_group(name=subjects.QUERIES)
        # why: a queue-group request that lands on a frozen replica is never answered; the
        # client then asks one that just answered discovery, here (log/replicas.py)
        own = service.add_group(name=f"{subjects.REPLICA_QUERIES}.{service.id}")
        for name, fn in fns.items():
            handler = self._handler(fn)
            await shared.add_endpoint(name=name, handler=handler)
            await own.add_endpoint(name=name, handler=handler)
        return service

    def _handler(
        self, fn: Callable[[Views, dict[str, Any], datetime], Any]
    ) -> Callable[[Request], Awaitable[None]]:
        async def handle(req: Request) -> None:
            data, error, stale = await self.answer(fn, req.data)
            headers = stale_headers(stale.iso(), stale.reason) if stale else {}
            if error is None:
                try:
                    data, more = packed(data, self.nc.max_payload)
                except ValueError as err:
                    data, error = b"", ("400", str(err))
                else:
                    headers |= more
            if error is None:
                await req.respond(data, headers=headers or None)
            else:
                await req.respond_error(error[0], error[1], data, headers=headers or None)

        return handle

    async def answer(
        self, fn: Callable[..., Any], data: bytes
    ) -> tuple[bytes, tuple[str, str] | None, Stale | None]:
        """Run one query: (JSON, None, stale), or (details, (code, message), stale) for an error.

        `stale` says whether the views answering may lack events, and since when.
        """
        stale = None
        try:
            params = msgspec.json.decode(data) if data else {}
            if not isinstance(params, dict):
                raise InvalidInput("query parameters must be a JSON object")
            if self.log.retention_s:
                params["retention_s"] = self.log.retention_s  # why: fires older are forgotten
            stale = self.staleness(await self.sync())
            result = fn(self.views, params, self.clock.now())
            if asyncio.iscoroutine(result):
                result = await result
            return _encoder.encode(result), None, stale
        except ScheduleNotFound as err:
            body = {"name": err.name, "hint": err.hint} if err.hint else {"name": err.name}
            return _encoder.encode(body), ("404", str(err)), stale
        except CalendarNotFound as err:
            # why: the asker tells a missing calendar from a missing schedule by `kind`
            body = {"name": err.name, "kind": "calendar"}
            return _encoder.encode(body), ("404", str(err)), stale
        except (InvalidInput, msgspec.DecodeError, ValueError) as err:
            return b"", ("400", str(err)), stale
        except JetcronError as err:
            return b"", ("500", str(err)), stale
        except Exception as err:  # noqa: BLE001 - answer, never leave the asker waiting
            log.exception("query failed")
            return b"", ("500", f"query failed: {str(err) or type(err).__name__}"), stale

    async def _health(self, views: Views, params: dict[str, Any], now: datetime) -> Any:
        from jetcron.log.heartbeats import online_or_why

        listed, why = await online_or_why(self.nc)
        online = None if listed is None else {e.name: e for e in listed}
        report = msgspec.to_builtins(health.evaluate(views, now=now, executors_online=online))
        if why:
            unknown = {"kind": "executors_unknown", "subject": "executors", "detail": why}
            report["problems"].append(unknown)
        # why: a frozen view would otherwise report "healthy" from old data
        report["problems"] += self._service_problems(await self._behind())
        report["problems"] += await self._ticker_problems()
        report["healthy"] = not report["problems"]
        return report

    async def _conflicts(self, views: Views, params: dict[str, Any], now: datetime) -> Any:
        """forecast.conflicts_of; a crowded check with the online executors' concurrency."""
        from jetcron.log.heartbeats import online_or_why

        executors: list[tuple[list[str], int | None]] = []
        if params.get("crowded"):
            # why: the warning of `schedule add` waits at most 2 s for the whole answer; a
            # bucket that cannot be read now counts as no executor (each target takes 1)
            listed, _ = await online_or_why(self.nc, timeout=1.0)
            executors = [(e.targets + e.tags, e.concurrency) for e in listed or []]
        return forecast.conflicts_of(views, params, now, executors)

    async def _behind(self) -> int | None:
        """How many events the views lack right now (None if the log does not say)."""
        try:
            return max(0, await asyncio.wait_for(self.log.last_seq(), 2.0) - self.views.position)
        except Exception:  # noqa: BLE001 - an unreachable log is itself the answer
            return None

    async def _ticker_problems(self) -> list[Any]:
        """`no_ticker_leader` when no replica holds the ticker lease (the rule: `health.py`)."""
        lease = self.lease
        if not isinstance(lease, KvLease):
            return []  # why: a SoloLease means this very process ticks
        holder = await lease.holder_now()
        written = None if holder else await last_written(self.nc, bucket=lease.bucket)
        problem = health.no_ticker_leader(
            holder,
            last_held=_wall(written or lease.last_held),
            looking_since=_wall(lease.started),
            cause=lease.error,
        )
        return [] if problem is None else [msgspec.to_builtins(problem)]

    def _service_problems(self, behind: int | None) -> list[dict[str, str]]:
        out = [
            {
                "kind": "follower_down",
                "subject": name,
                "detail": f"down since {iso(f.down_since)}: {f.error}",
            }
            for name, f in sorted(self.followers.items())
            if f.down_since is not None
        ]
        stale = self.staleness(behind) if not out else None
        if stale is not None:
            out.append({"kind": "view_stale", "subject": "projections", "detail": stale.line()})
        if (full := _log_full()) is not None:
            out.append({"kind": "log_full", "subject": STORAGE.subject, "detail": full})
        return out

    def _stats(self, views: Views, params: dict[str, Any], now: datetime) -> Any:
        return queries.stats_of(views, params, now, self.stats_cache)

    async def _status(self, views: Views, params: dict[str, Any], now: datetime) -> Any:
        from jetcron.log.heartbeats import online_or_why

        info = await self.log.js.stream_info(self.log.stream)
        states: dict[str, int] = {}
        for row in views.schedules.rows.values():
            states[row.state] = states.get(row.state, 0) + 1
        # why: the fold keeps the rows in flight (tallies), so this does not walk every row
        in_flight = len(views.runs.tallies.flight)
        listed, why = await online_or_why(self.nc)
        return {
            "stream": {
                "name": info.config.name,
                "messages": info.state.messages,
                "bytes": info.state.bytes,
                "first_seq": info.state.first_seq,
                "last_seq": info.state.last_seq,
                "replicas": info.config.num_replicas,
                "retention_s": retention_of(info.config.metadata),
            },
            "projection": {
                "position": views.position,
                "lag": info.state.last_seq - views.position,
                "poison_events": views.poison,
                "rejected_run_events": views.rejected,
                "keep_runs": views.keep,
                "keep_deleted": views.keep_deleted,
                "deleted_held": len(views.schedules.deleted),
                "deleted_forgotten": views.schedules.forgotten,
            },
            "schedules": states,
            "runs_in_flight": in_flight,
            "executors": [msgspec.to_builtins(e) for e in listed or []],
            "executors_unknown": why or None,
            **await self._replicas(),
            "ticker_leader": await self._leader(),
            "service": self._service_report(info.state.last_seq - views.position),
            "version": __version__,
        }

    def _service_report(self, behind: int) -> dict[str, Any]:
        """This replica's view of NATS and of its followers, with one human line per concern."""
        nats = self.connection.report()
        followers = {name: f.report() for name, f in sorted(self.followers.items())}
        stale = self.staleness(behind)
        full = _log_full()
        return {
            "nats": nats,
            "followers": followers,
            "stale": None if stale is None else {"since": stale.iso(), "reason": stale.reason},
            "notes": [*notes(nats, followers, stale), *([f"log full: {full}"] if full else [])],
        }

    async def _replicas(self) -> dict[str, Any]:
        """Instances of the jetcron-query service that answer a micro PING within 250 ms, and
        the jetcron version each runs (why: a rolling upgrade shows as mixed versions)."""
        inbox = self.nc.new_inbox()
        versions: dict[str, str] = {}

        async def collect(msg: Any) -> None:
            answer = replica_answer(msg.data)
            if answer is not None:
                versions[answer[0]] = answer[1]

        sub = await self.nc.subscribe(inbox, cb=collect)
        await self.nc.publish(subjects.service_ping(subjects.QUERY_SERVICE), b"", reply=inbox)
        await asyncio.sleep(0.25)
        await sub.unsubscribe()
        return {"scheduler_replicas": list(versions), "scheduler_versions": versions}

    async def _leader(self) -> str | None:
        """Who holds the ticker lease, if anyone."""
        return await lease_holder(self.nc)

    async def _state(self, views: Views, params: dict[str, Any], now: datetime) -> Any:
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATE_OBJECT_KEEP_S)

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


def _wall(t: float) -> datetime | None:
    """A `time.time()` stamp as a UTC datetime (0: unknown)."""
    return datetime.fromtimestamp(t, UTC) if t else None


def _log_full() -> str | None:
    """Since when this process's appends are refused for want of storage, and what to do."""
    if STORAGE.since is None:
        return None
    return f"appends refused since {iso(STORAGE.since)}: {STORAGE.cause}"


def _why(v: expectations.Verdict) -> str:
    return getattr(v, "detail", "") or f"run {getattr(v, 'run_id', '')[:8]} succeeded"
