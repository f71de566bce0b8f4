"""What the leader appends besides folding: daily rollups, expectation verdicts, executors' comings and goings."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from jetcron import ids, subjects
from jetcron.domain.envelope import Envelope, event_type
from jetcron.domain.events import ExecutorOnline, StatsRolledUp
from jetcron.log.follow import rest
from jetcron.projections import expectations, hosts, rollups

if TYPE_CHECKING:
    from jetcron.projections.service import ProjectionService

log = logging.getLogger("jetcron.projections.service")  # why: its lines kept their logger's name
EXPECT_EVERY_S = 1.0
"""How often the leader checks expectations."""
EXPECT_ACTOR = "system:expectations"
HOSTS_EVERY = 5
"""Expectation rounds between two looks at the executors' heartbeats."""
HOSTS_ACTOR = "system:heartbeats"
ROLLUP_ACTOR = "system:rollup"


async def roll_up(svc: ProjectionService) -> int:
    """Append the daily rollups that are due (leader only, views current); how many."""
    if not svc.lease.is_leader() or await svc.sync() != 0:
        return 0  # why: a view still catching up would roll up a day with results missing
    now = svc.clock.now()
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
        for day in rollups.due(svc.views.runs, now, svc.rollup_grace)
    ]
    if not items:
        return 0
    # why: Nats-Msg-Id per (schedule, day): two leaders, or a retry, store one rollup
    results = await svc.log.publish_many(items)
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        log.warning("%d of %d daily rollups not stored yet: %s", len(failed), len(items), failed[0])
    return len(items) - len(failed)


async def roll_up_forever(svc: ProjectionService, stop: asyncio.Event) -> None:
    """`roll_up` every `rollup_every_s` until stop."""
    while not stop.is_set():
        try:
            await svc.roll_up()
        except Exception as err:  # noqa: BLE001 - the next round tries again
            log.warning("daily rollups: %s", str(err) or type(err).__name__)
        await rest(stop, svc.rollup_every_s)


async def expect_forever(svc: ProjectionService, stop: asyncio.Event) -> None:
    """On the leader, append what expectations are owed, every EXPECT_EVERY_S."""
    rounds = 0
    while not await rest(stop, EXPECT_EVERY_S):
        if not svc.lease.is_leader():
            continue
        rounds += 1
        try:
            await svc.check_expectations()
            if rounds % HOSTS_EVERY == 1:
                await svc.check_hosts()
        except Exception as err:  # noqa: BLE001 - the next round tries again (same msg ids)
            svc.log_away_at = time.monotonic()
            log.warning("expectations not checked: %s", str(err) or type(err).__name__)


async def check_hosts(svc: ProjectionService) -> int:
    """Append executor.offline/online where the heartbeats and the log disagree."""
    from jetcron.log.heartbeats import roster

    if await svc.sync() != 0:
        return 0
    online, stopped = await roster(svc.nc)
    live = {e.name: e.tags for e in online}
    ack_waits = {e.name: e.ack_wait_s for e in online}
    now = svc.clock.now()
    found = hosts.transitions(
        svc.views.hosts, live, live, stopped, hold_offline=held(svc), ack_waits=ack_waits
    )
    for event, msg_id in found:
        envelope = Envelope(id=ids.new_id(), at=now, actor=HOSTS_ACTOR, event=event)
        await svc.log.append(subjects.host(event.name), [envelope], msg_id=msg_id)
        # why: coming online or stopping on purpose is news; a heartbeat that expired is trouble
        news = isinstance(event, ExecutorOnline) or event.stopped
        level = logging.INFO if news else logging.WARNING
        why = " (stopped)" if news and not isinstance(event, ExecutorOnline) else ""
        log.log(level, "executor %s: %s%s", event.name, event_type(event), why)
    return len(found)


def held(svc: ProjectionService) -> bool:
    """Whether the log was out of reach within HEARD_AGAIN_S (a reconnect counts too)."""
    if (reconnects := svc.nc.stats["reconnects"]) != svc.reconnects:
        svc.reconnects, svc.log_away_at = reconnects, time.monotonic()
    away = svc.log_away_at
    return away is not None and time.monotonic() - away < hosts.HEARD_AGAIN_S


async def check_expectations(svc: ProjectionService) -> int:
    """Append the expectation.missed/met events owed now; how many were decided."""
    if await svc.sync() != 0:
        return 0  # why: a view behind the log could take a success for missing
    now = svc.clock.now()
    verdicts = expectations.check(svc.views, now)
    for v in verdicts:
        envelope = Envelope(id=ids.new_id(), at=now, actor=EXPECT_ACTOR, event=v)
        subject = subjects.expectation(v.name)
        await svc.log.append(subject, [envelope], msg_id=expectations.msg_id(v))
        log.warning("%s: %s %s (%s)", v.name, event_type(v), v.kind, _why(v))
    return len(verdicts)


def _why(v: expectations.Verdict) -> str:
    return getattr(v, "detail", "") or f"run {getattr(v, 'run_id', '')[:8]} succeeded"
