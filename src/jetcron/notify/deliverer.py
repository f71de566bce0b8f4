"""The leader's delivery of notifications: a durable consumer, a ledger of deliveries, retries.

Exactly once per (notification, event) as far as the log goes: before sending, the ledger
subject of that pair (`jetcron.delivery.<n>.<seq>`) is read, and a delivery is recorded there
with a Nats-Msg-Id of the pair, so two leaders store one record. An event is acked only when
every notification that wants it is delivered or has failed for good; a failure is a nak with
a growing delay. A crash between sending and recording sends that one message again: at least
once to the receiver, who dedupes on the delivery id header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nats.aio.client import Client

from jetcron import ids, subjects
from jetcron.clock import Clock, SystemClock
from jetcron.domain.claims import Claims
from jetcron.domain.claims import check as check_claims
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import Event, ScheduleCreated, ScheduleDeleted, ScheduleUpdated
from jetcron.domain.notifications import Notification
from jetcron.domain.notify_events import (
    NotificationAdded,
    NotificationRemoved,
    NotificationUpdated,
    NotifyDelivered,
    NotifyFailed,
)
from jetcron.log.durable import Delivery, DurableFeed
from jetcron.log.follow import FollowHealth, backoff, rest, supervise
from jetcron.log.lease import Leadership, SoloLease
from jetcron.log.stream import EventLog
from jetcron.notify import rules, sinks

log = logging.getLogger(__name__)
ACTOR = "system:notify"
MAX_ATTEMPTS = 10
"""Sends per (notification, event) before the failure is final (about 10 minutes of retries)."""
RETRY_BASE_S, RETRY_CAP_S = 1.0, 120.0
FEED_FILTERS = [
    subjects.RUNS,
    subjects.SCHEDULES,
    subjects.EXPECTATIONS,
    subjects.NOTIFY_TESTS,
    subjects.HOSTS,
]
KEEPALIVE_S = 10.0
"""Held (grouped) events are marked in progress this often, so the consumer keeps them ours."""


@dataclass(slots=True)
class InHand:
    """A fetched event until every notification that wants it is done with it."""

    delivery: Delivery
    waiting: set[str] = field(default_factory=set)
    failed: bool = False


class Deliverer:
    """Follows sinks and schedule tags; while leader, delivers what the durable consumer brings."""

    def __init__(
        self,
        nc: Client,
        event_log: EventLog,
        *,
        lease: Leadership | None = None,
        health: FollowHealth | None = None,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nc, self.log = nc, event_log
        self.lease = lease or SoloLease()
        self.health = health or FollowHealth("notify")
        self.clock = clock or SystemClock()
        self.monotonic = monotonic
        self.notifications: dict[str, Notification] = {}
        self.tags: dict[str, list[str]] = {}
        self.position = 0
        self.groups = rules.Groups()
        self._kept_alive = 0.0
        self.claims = Claims()
        """Who may write each run (domain/claims.py), from the run events delivered so far."""

    async def prepare(self) -> None:
        """Make sure the durable consumer exists, before the service says it is up.

        why: it is created at the log's end; made lazily by the first leader, anything appended
        between start-up and then (a sink added at once and its test message) was never seen.
        """
        feed = await DurableFeed(self.nc, subjects.NOTIFY_CONSUMER, FEED_FILTERS).open()
        await feed.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Until stop: follow the definitions; deliver while this replica leads."""
        follow = asyncio.ensure_future(supervise(self._follow, health=self.health, stop=stop))
        attempt = 0
        try:
            while not stop.is_set():
                if self.lease.is_leader() and self.ready():
                    try:
                        await self._lead(stop)
                        attempt = 0
                    except Exception as err:  # noqa: BLE001 - NATS away: unacked events come back
                        attempt += 1
                        log.warning("notify: delivery paused (%s)", str(err) or type(err).__name__)
                        await rest(stop, backoff(attempt))
                        continue
                await rest(stop, 0.5)
        finally:
            follow.cancel()

    async def _follow(self) -> None:
        async for batch in self.log.read(
            from_seq=self.position + 1,
            subjects=[subjects.SCHEDULES, subjects.NOTIFICATIONS],
            follow=True,
            health=self.health,
        ):
            for stored in batch:
                self.apply(stored.envelope.event)
                self.position = stored.seq

    def ready(self) -> bool:
        """Whether the sinks as the log has them are known (read to its end at least once)."""
        return self.health.current_at is not None

    def apply(self, event: Event) -> None:
        """Fold a sink or schedule event (sinks by name, tags by schedule name)."""
        if isinstance(event, NotificationAdded | NotificationUpdated):
            self.notifications[event.name] = event.notification
        elif isinstance(event, NotificationRemoved):
            self.notifications.pop(event.name, None)
        elif isinstance(event, ScheduleCreated | ScheduleUpdated):
            self.tags[event.name] = list(event.definition.tags)
        elif isinstance(event, ScheduleDeleted):
            self.tags.pop(event.name, None)

    async def _lead(self, stop: asyncio.Event) -> None:
        feed = await DurableFeed(self.nc, subjects.NOTIFY_CONSUMER, FEED_FILTERS).open()
        try:
            while not stop.is_set() and self.lease.is_leader():
                for delivery in await feed.fetch(100, timeout=0.5):
                    await self.handle(delivery)
                await self.flush()
        finally:
            await self._hand_back()
            await feed.close()

    async def _hand_back(self) -> None:
        """Give held events back to the consumer now, so the next leader has them at once."""
        held = {id(hand): hand for items in self.groups.held.values() for hand, _, _ in items}
        self.groups = rules.Groups()
        for hand in held.values():
            # why: best effort: unacked, they come back after the ack wait anyway
            with contextlib.suppress(Exception):
                await hand.delivery.nak(0)

    async def handle(self, delivery: Delivery) -> None:
        """Send one event to every notification that wants it (or hold it for its group)."""
        stored = delivery.stored
        if stored is None or check_claims(self.claims, stored) is not None:
            await delivery.ack()  # why: a run event its run's claims reject notifies nobody
            return
        schedule = rules.schedule_of(stored.envelope.event)
        kind, targets = rules.wanted(self.notifications, stored, self.tags.get(schedule, []))
        hand = InHand(delivery)
        for n in targets:
            if await self.done(n.name, stored.seq):
                continue
            key = (n.name, rules.group_of(stored.envelope.event, str(kind)))
            if kind != "test" and not self.groups.admit(key, n.window_s, self.monotonic()):
                self.groups.hold(key, (hand, stored, kind))
                hand.waiting.add(n.name)
                continue
            hand.failed |= not await self.deliver(n, str(kind), [stored], delivery.attempt)
        await self._finish(hand)

    async def flush(self) -> None:
        """Send the groups whose window has passed, one message each with the count."""
        now = self.monotonic()
        windows = {name: n.window_s for name, n in self.notifications.items()}
        for (name, _), items in self.groups.due(windows, now):
            n = self.notifications.get(name)
            hands: list[InHand] = [hand for hand, _, _ in items]
            ok = True
            if n is not None:
                attempt = max(h.delivery.attempt for h in hands)
                ok = await self.deliver(n, items[-1][2], [s for _, s, _ in items], attempt)
            for hand in hands:
                hand.waiting.discard(name)
                hand.failed |= not ok
                await self._finish(hand)
        if self.groups.held and now - self._kept_alive >= KEEPALIVE_S:
            self._kept_alive = now
            for items in self.groups.held.values():
                for hand, _, _ in items:
                    await hand.delivery.in_progress()

    async def done(self, name: str, seq: int) -> bool:
        """Whether the ledger says this notification is done with the event at `seq`."""
        last = await self.log.last(subjects.delivery(name, seq))
        event = None if last is None else last.envelope.event
        return isinstance(event, NotifyDelivered) or (
            isinstance(event, NotifyFailed) and event.final
        )

    async def deliver(
        self, n: Notification, kind: str, events: list[StoredEvent], attempt: int
    ) -> bool:
        """Send one message for `events`; record the outcome per event. False: try again later."""
        body = rules.encode(rules.message(n, kind, events))
        delivery = rules.delivery_id(n.name, events[-1].seq)
        try:
            await sinks.send(self.nc, n, body, delivery, int(self.clock.now().timestamp()))
        except sinks.SendFailed as err:
            # why: a test answers the operator who asked, now; retrying it later tells no one
            final = attempt >= MAX_ATTEMPTS or kind == "test"
            log.warning("notify %s: attempt %d failed%s: %s", n.name, attempt,
                        " for good" if final else "", err)  # fmt: skip
            for s in events:
                failed = NotifyFailed(name=n.name, event_seq=s.seq, kind=kind,
                                      schedule=rules.schedule_of(s.envelope.event), error=str(err),
                                      attempts=attempt, final=final)  # fmt: skip
                await self._record(failed, s.seq, f"notify-failed:{n.name}:{s.seq}:{attempt}")
            return final
        for s in events:
            sent = NotifyDelivered(name=n.name, event_seq=s.seq, kind=kind,
                                   schedule=rules.schedule_of(s.envelope.event),
                                   delivery_id=delivery, attempts=attempt, grouped=len(events))  # fmt: skip
            await self._record(sent, s.seq, f"notify:{n.name}:{s.seq}")
        return True

    async def _record(self, event: NotifyDelivered | NotifyFailed, seq: int, msg_id: str) -> None:
        envelope = Envelope(id=ids.new_id(), at=self.clock.now(), actor=ACTOR, event=event)
        await self.log.append(subjects.delivery(event.name, seq), [envelope], msg_id=msg_id)

    async def _finish(self, hand: InHand) -> None:
        if hand.waiting:
            return
        if hand.failed:
            delay = backoff(hand.delivery.attempt, base=RETRY_BASE_S, cap=RETRY_CAP_S)
            await hand.delivery.nak(delay)
        else:
            await hand.delivery.ack()
