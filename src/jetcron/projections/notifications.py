"""Notifications view: every sink, and how its deliveries are going (for `notify list` and health)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from jetcron.domain.envelope import StoredEvent, who
from jetcron.domain.notifications import Notification
from jetcron.domain.notify_events import (
    NotificationAdded,
    NotificationRemoved,
    NotificationUpdated,
    NotifyDelivered,
    NotifyFailed,
)


class NotificationRow(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """One sink, its rules, and its delivery record."""

    notification: Notification
    added_at: datetime | None = None
    added_by: str = ""
    delivered: int = 0
    """Events delivered (a grouped message counts each event it carried); tests not counted."""
    failed: int = 0
    """Events given up on after the last retry."""
    failing: bool = False
    """The latest attempt failed (retrying or given up); cleared by the next delivery."""
    failing_since: datetime | None = None
    last_error: str = ""
    last_delivered_at: datetime | None = None
    retrying: list[int] = []
    """Sequences of the events whose latest attempt failed and will be tried again."""
    tested_at: datetime | None = None
    """The latest `notify test` outcome's time; tests stay out of the counts and `failing`."""
    test_error: str = ""
    """Why the latest test failed ("" : it was delivered)."""


class NotificationsView(msgspec.Struct, kw_only=True, gc=False):
    """Sinks by name."""

    rows: dict[str, NotificationRow] = {}


def _on_added(view: NotificationsView, event: NotificationAdded, stored: StoredEvent) -> None:
    env = stored.envelope
    view.rows[event.name] = NotificationRow(
        notification=event.notification, added_at=env.at, added_by=who(env)
    )


def _on_updated(view: NotificationsView, event: NotificationUpdated, stored: StoredEvent) -> None:
    row = view.rows.get(event.name)
    if row is None:  # why: a view rebuilt from a log cut short by retention
        _on_added(view, NotificationAdded(name=event.name, notification=event.notification), stored)
        return
    row.notification = event.notification  # why: its delivery record is the same sink's


def _on_removed(view: NotificationsView, event: NotificationRemoved, stored: StoredEvent) -> None:
    view.rows.pop(event.name, None)


def _on_delivered(view: NotificationsView, event: NotifyDelivered, stored: StoredEvent) -> None:
    row = view.rows.get(event.name)
    if row is None:
        return
    if event.kind == "test":
        row.tested_at, row.test_error = stored.envelope.at, ""
        return
    row.delivered += 1
    row.last_delivered_at = stored.envelope.at
    row.failing, row.failing_since = False, None
    _settled(row, event.event_seq)


def _on_failed(view: NotificationsView, event: NotifyFailed, stored: StoredEvent) -> None:
    row = view.rows.get(event.name)
    if row is None:
        return
    if event.kind == "test":
        # why: a test's outcome goes to whoever asked; it says nothing about real deliveries
        row.tested_at, row.test_error = stored.envelope.at, event.error or "failed"
        return
    if event.final:
        row.failed += 1
        _settled(row, event.event_seq)
    elif event.event_seq not in row.retrying:
        row.retrying = [*row.retrying, event.event_seq]
    if not row.failing:
        row.failing, row.failing_since = True, stored.envelope.at
    row.last_error = event.error


def _settled(row: NotificationRow, seq: int) -> None:
    """The event at `seq` is delivered or given up: no longer retrying."""
    if seq in row.retrying:
        row.retrying = [s for s in row.retrying if s != seq]


HANDLERS: dict[type, Callable[[NotificationsView, Any, StoredEvent], None]] = {
    NotificationAdded: _on_added,
    NotificationUpdated: _on_updated,
    NotificationRemoved: _on_removed,
    NotifyDelivered: _on_delivered,
    NotifyFailed: _on_failed,
}
