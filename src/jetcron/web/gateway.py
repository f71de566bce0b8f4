"""The gateway's one NATS connection and the calls it makes: the CLI's commands and queries."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from jetcron import client, ids
from jetcron.connect import ConnectOptions, close, connect
from jetcron.errors import (
    InfrastructureError,
    InvalidInput,
    JetcronError,
    NatsUnreachable,
    ServiceUnavailable,
)
from jetcron.log.connection import ConnectionWatch
from jetcron.log.errors import transient
from jetcron.log.heartbeats import ExecutorInfo, list_executors
from jetcron.log.stream import EventLog
from jetcron.projections.attempts import attempts
from jetcron.web.auth import Tokens, User
from jetcron.web.freshness import Freshness, marked
from jetcron.web.guard import LOCAL_NAMES
from jetcron.web.problems import not_found
from jetcron.web.wording import run_for_web

if TYPE_CHECKING:
    from nats.aio.client import Client

    from jetcron.domain.commands import CommandReply, Request


LOG_WAIT_S = 5.0
"""How long a read of the log's end may take before the API says it is unavailable (503)."""


class Gateway:
    """Holds the connection (reconnecting forever) and the log reader for live events."""

    def __init__(
        self,
        options: ConnectOptions,
        tokens: Tokens,
        *,
        local_user: str,
        served: frozenset[str] = LOCAL_NAMES,
    ) -> None:
        self.options, self.tokens = options, tokens
        self.local_user = local_user
        """The actor of changes when no tokens are configured (bound to localhost only)."""
        self.served = served
        """The host names requests may name (guard.served_names; IP addresses always)."""
        self._nc: Client | None = None
        self._log: EventLog | None = None
        self._connecting: asyncio.Future[None] | None = None
        self.watch = ConnectionWatch("NATS (web gateway)")
        """Since when NATS is unreachable (the live stream's `state` says so)."""
        self.stopping = False
        """Set when the server stops: live streams end, so it need not wait for their clients."""
        self.backfills: dict[str, tuple[asyncio.Task[Any], client.Backfilling]] = {}
        """Backfills this gateway is pacing, by schedule name (`POST .../backfill`)."""
        self.freshness = Freshness()
        """What the latest query said of the views (GET /api/v1/views, the console's banner)."""

    async def start(self) -> None:
        """Connect in the background (waiting for NATS like the services do), so the gateway
        serves at once: /healthz answers, /readyz and the API say 503 until NATS is there."""
        self._connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        self._nc = await connect(self.options, persistent=True, watch=self.watch)

    async def stop(self) -> None:
        """Stop connecting and backfilling (runs sent go on); close the log reader and the
        connection."""
        for task, _ in self.backfills.values():
            task.cancel()
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connecting
        if self._log is not None:
            await self._log.close()
        if self._nc is not None:
            await close(self._nc)

    @property
    def nc(self) -> Client:
        """The connection; InfrastructureError (503) while the first connect is still waiting."""
        if self._nc is None:
            urls = ", ".join(self.options.urls())
            raise InfrastructureError(f"not connected to NATS at {urls} yet")
        return self._nc

    @property
    def connected(self) -> bool:
        """Whether NATS is reachable right now."""
        return self._nc is not None and self._nc.is_connected

    async def event_log(self) -> EventLog:
        """The log, opened on first use (an SSE stream reads it)."""
        if self._log is None:
            self._log = await EventLog(self.nc).open(create=False)
        return self._log

    async def log_end(self) -> int:
        """The log's last sequence (a live stream starts after it); InfrastructureError (503)
        while NATS or JetStream does not answer."""
        if not self.connected:
            # why: nats-py would buffer the request while it reconnects and wait past any timeout
            raise InfrastructureError(
                "NATS is unreachable (reconnecting): try again once it is back"
            )
        try:
            async with asyncio.timeout(LOG_WAIT_S):  # why: not wait_for (log/follow.set_within)
                return await (await self.event_log()).last_seq()
        except Exception as err:
            if isinstance(err, JetcronError) or not transient(err):
                raise
            raise InfrastructureError(
                f"the log did not answer within {LOG_WAIT_S:g}s (NATS or JetStream is busy or "
                "stalled); try again"
            ) from err

    async def ask(self, view: str, params: dict[str, Any] | None = None) -> Any:
        """One query to the projection service, as `jetcron <view>` sends it; what it says
        of the views' freshness is kept (`freshness`)."""
        try:
            answer, stale = await client.query_and_staleness(self.nc, view, params or {})
        except InfrastructureError as err:
            if isinstance(err, ServiceUnavailable) or not self.connected:
                away = isinstance(err, NatsUnreachable) or not self.connected
                began = self.watch.unreachable_since if away else None
                self.freshness.failed(str(err), nats_away=away, began=began)
            raise
        self.freshness.answered(stale)
        marked(stale)
        return answer

    async def send(self, command: Request) -> CommandReply:
        """One command to the scheduler service, as the CLI sends it."""
        return await client.send_command(self.nc, command)

    async def run(self, ref: str) -> dict[str, Any]:
        """One run by id or unique prefix; 404 for an unknown one."""
        try:
            row: dict[str, Any] = await self.ask("run", {"run_id": ref})
        except InvalidInput as err:
            # why: the run query says "no run 'x'" as bad input (the CLI exits 2); HTTP says 404
            if str(err).startswith("no run "):
                raise not_found(str(err)) from None
            raise
        return row

    async def output(self, row: dict[str, Any]) -> dict[str, Any]:
        """A run's captured output (stdout, stderr, an action's result) and its `attempts`,
        each with its fate, from one read of the run's events."""
        events = await client.run_events(self.nc, row["schedule"], row["run_id"])
        tried = [run_for_web(a) for a in msgspec.to_builtins(attempts(events))]
        return dict(client.output_of(events), attempts=tried)

    async def executors(self) -> list[ExecutorInfo]:
        """Executors online now (heartbeats)."""
        return await list_executors(self.nc)


def meta(name: str, user: User, reason: str = "", version: int | None = None) -> dict[str, Any]:
    """The fields every command carries; the actor is the authenticated user."""
    return {
        "name": name,
        "command_id": ids.new_id(),
        "at": datetime.now(UTC),
        "actor": user.name,
        "reason": reason,
        "expected_version": version,
    }
