"""The notification aggregate as a pure decider: a sink is added, updated, tested, removed
(and re-added)."""

from __future__ import annotations

from collections.abc import Iterable

from jetcron.domain.commands import (
    AddNotification,
    NotificationCommand,
    RemoveNotification,
    SendTestNotification,
    UpdateNotification,
)
from jetcron.domain.definition import SECRET_REF
from jetcron.domain.envelope import AnyEvent
from jetcron.domain.errors import CommandRejected, NotificationNotFound
from jetcron.domain.events import Event
from jetcron.domain.notifications import (
    Notification,
    validate_notification,
    validate_notification_name,
)
from jetcron.domain.notify_events import (
    NotificationAdded,
    NotificationRemoved,
    NotificationUpdated,
    NotifyTest,
)

NotificationState = Notification | None
"""The live notification of one name, None when absent or removed."""


def evolve(state: NotificationState, event: AnyEvent) -> NotificationState:
    """The state after one event of the notification's subject."""
    if isinstance(event, NotificationAdded | NotificationUpdated):
        return event.notification
    if isinstance(event, NotificationRemoved):
        return None
    return state


def fold(events: Iterable[AnyEvent]) -> NotificationState:
    """The state after these events (the notification subject's history)."""
    state: NotificationState = None
    for event in events:
        state = evolve(state, event)
    return state


def decide(state: NotificationState, command: NotificationCommand) -> list[Event]:
    """The events a command yields; CommandRejected (NotificationNotFound) if it cannot apply."""
    name = validate_notification_name(command.name)
    match command:
        case AddNotification(notification=notification):
            _same_name(notification, name)
            if state is not None:
                raise CommandRejected(
                    f"notification {name!r} exists; `jetcron notify remove {name}` first"
                )
            return [NotificationAdded(name=name, notification=validate_notification(notification))]
        case UpdateNotification(notification=notification):
            _same_name(notification, name)
            if _live(state, name) == notification:
                return []  # why: already so (an apply run twice)
            return [
                NotificationUpdated(name=name, notification=validate_notification(notification))
            ]
        case RemoveNotification():
            _live(state, name)
            return [NotificationRemoved(name=name)]
        case SendTestNotification():
            _live(state, name)
            return [NotifyTest(name=name)]


def secret_key(state: NotificationState) -> str | None:
    """The webhook secrets bucket key this notification signs with (`kv:<key>`), if any."""
    secret = state.sink.secret if state is not None else ""
    return secret[len(SECRET_REF) :] if secret.startswith(SECRET_REF) else None


def _same_name(notification: Notification, name: str) -> None:
    if notification.name != name:
        raise CommandRejected(
            f"notification {notification.name!r} sent as {name!r}: the names differ"
        )


def _live(state: NotificationState, name: str) -> Notification:
    if state is None:
        raise NotificationNotFound(name)
    return state
