"""Notifications view: every sink, and how its deliveries are going (for `notify list` and health)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from jetcron.domain.events import (
    NotificationAdded,
    NotificationRemoved,
    NotifyDelivered,
    NotifyFailed,
    StoredEvent,
)
from jetcron.domain.notifications import Notification


class NotificationRow(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """One sink, its rules, and its delivery record."""

    notification: Notification
    added_at: datetime | None = None
    added_by: str = ""
    delivered: int = 0
    """Events delivered (a grouped message counts each event it carried)."""
    failed: int = 0
    """Events given up on after the last retry."""
    failing: bool = False
    """The latest attempt failed (retrying or given up); cleared by the next delivery."""
    failing_since: datetime | None = None
    last_error: str = ""
    last_delivered_at: datetime | None = None


class NotificationsView(msgspec.Struct, kw_only=True, gc=False):
    """Sinks by name."""

    rows: dict[str, NotificationRow] = {}


def _on_added(view: NotificationsView, event: NotificationAdded, stored: StoredEvent) -> None:
    env = stored.envelope
    view.rows[event.name] = NotificationRow(
        notification=event.notification, added_at=env.at, added_by=env.actor
    )


def _on_removed(view: NotificationsView, event: NotificationRemoved, stored: StoredEvent) -> None:
    view.rows.pop(event.name, None)


def _on_delivered(view: NotificationsView, event: NotifyDelivered, stored: StoredEvent) -> None:
    row = view.rows.get(event.name)
    if row is not None:
        row.delivered += 1
        row.last_delivered_at = stored.envelope.at
        row.failing, row.failing_since = False, None


def _on_failed(view: NotificationsView, event: NotifyFailed, stored: StoredEvent) -> None:
    row = view.rows.get(event.name)
    if row is not None:
        row.failed += int(event.final)
        if not row.failing:
            row.failing, row.failing_since = True, stored.envelope.at
        row.last_error = event.error


HANDLERS: dict[type, Callable[[NotificationsView, Any, StoredEvent], None]] = {
    NotificationAdded: _on_added,
    NotificationRemoved: _on_removed,
    NotifyDelivered: _on_delivered,
    NotifyFailed: _on_failed,
}
