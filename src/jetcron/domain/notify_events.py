"""The notification events: sinks added, updated, removed or tested, and the ledger of deliveries.

Event types of the one union (envelope.py) like those of events.py, under the same rules: tags
explicit and stable, never renamed or reused; fields only added, always with defaults.
"""

from __future__ import annotations

from jetcron.domain.events import Event
from jetcron.domain.notifications import Notification

# -- notifications: sinks on jetcron.notify.<n>, deliveries on jetcron.delivery.<n>.<seq> ----


class NotificationAdded(Event, frozen=True, kw_only=True, tag="notify.added"):
    name: str
    notification: Notification


class NotificationUpdated(Event, frozen=True, kw_only=True, tag="notify.updated"):
    """A sink's destination or rules replaced whole (`jetcron apply`); its record stays."""

    name: str
    notification: Notification


class NotificationRemoved(Event, frozen=True, kw_only=True, tag="notify.removed"):
    name: str


class NotifyTest(Event, frozen=True, kw_only=True, tag="notify.test"):
    """`jetcron notify test NAME`: the leader sends one test message to this sink."""

    name: str


class NotifyDelivered(Event, frozen=True, kw_only=True, tag="notify.delivered"):
    """The ledger of deliveries: notification `name` sent the event at `event_seq`."""

    name: str
    event_seq: int
    kind: str
    schedule: str = ""
    delivery_id: str = ""
    attempts: int = 1
    grouped: int = 1
    """Events the message carried (a storm grouped into one message)."""


class NotifyFailed(Event, frozen=True, kw_only=True, tag="notify.failed"):
    """A delivery attempt of notification `name` failed; `final` when no retry follows."""

    name: str
    event_seq: int
    kind: str
    schedule: str = ""
    error: str = ""
    attempts: int = 1
    final: bool = False
