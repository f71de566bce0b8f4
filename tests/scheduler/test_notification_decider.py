"""The notification decider: given events, when a command, then events (or a rejection); no server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jetcron.domain.commands import (
    AddNotification,
    NotificationCommand,
    RemoveNotification,
    SendTestNotification,
    UpdateNotification,
    command_decoder,
)
from jetcron.domain.envelope import AnyEvent
from jetcron.domain.errors import CommandRejected, NotificationNotFound
from jetcron.domain.notifications import Notification, Sink
from jetcron.domain.notify_events import (
    NotificationAdded,
    NotificationRemoved,
    NotificationUpdated,
    NotifyTest,
)
from jetcron.scheduler.notifications import decide, fold

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
OPS = Notification(name="ops", sink=Sink(subject="ops.alerts"))
ADDED = NotificationAdded(name="ops", notification=OPS)
REMOVED = NotificationRemoved(name="ops")
META = {"command_id": "c1", "at": T0, "actor": "alice"}


def add(n: Notification = OPS, name: str = "ops") -> AddNotification:
    return AddNotification(name=name, notification=n, **META)  # type: ignore[arg-type]


def update(n: Notification = OPS, name: str = "ops") -> UpdateNotification:
    return UpdateNotification(name=name, notification=n, **META)  # type: ignore[arg-type]


PAGER = Notification(name="ops", sink=Sink(subject="ops.pager"), on=["failure"])


def remove(name: str = "ops") -> RemoveNotification:
    return RemoveNotification(name=name, **META)  # type: ignore[arg-type]


def probe(name: str = "ops") -> SendTestNotification:
    return SendTestNotification(name=name, **META)  # type: ignore[arg-type]


CASES: list[tuple[str, list[AnyEvent], NotificationCommand, list[AnyEvent]]] = [
    ("add-new", [], add(), [ADDED]),
    ("add-after-remove", [ADDED, REMOVED], add(), [ADDED]),
    ("remove-live", [ADDED], remove(), [REMOVED]),
    ("update-live", [ADDED], update(PAGER), [NotificationUpdated(name="ops", notification=PAGER)]),
    ("update-same", [ADDED], update(), []),
    (
        "update-twice",
        [ADDED, NotificationUpdated(name="ops", notification=PAGER)],
        update(PAGER),
        [],
    ),
    (
        "remove-updated",
        [ADDED, NotificationUpdated(name="ops", notification=PAGER)],
        remove(),
        [REMOVED],
    ),
    ("test-live", [ADDED], probe(), [NotifyTest(name="ops")]),
    ("test-unrelated-events", [ADDED, NotifyTest(name="ops")], probe(), [NotifyTest(name="ops")]),
]


@pytest.mark.parametrize(
    ("given", "when", "then"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide(given: list[AnyEvent], when: NotificationCommand, then: list[AnyEvent]) -> None:
    assert decide(fold(given), when) == then


REJECTED: list[tuple[str, list[AnyEvent], NotificationCommand, type[Exception], str]] = [
    ("add-duplicate", [ADDED], add(), CommandRejected, "notification 'ops' exists; `jetcron notify remove ops` first"),
    ("remove-unknown", [], remove(), NotificationNotFound, "no notification 'ops'; see `jetcron notify list`"),
    ("remove-twice", [ADDED, REMOVED], remove(), NotificationNotFound, "no notification 'ops'"),
    ("update-unknown", [], update(), NotificationNotFound, "no notification 'ops'"),
    ("update-removed", [ADDED, REMOVED], update(), NotificationNotFound, "no notification 'ops'"),
    ("update-names-differ", [ADDED], update(name="other"), CommandRejected, "'ops' sent as 'other'"),
    ("update-bad-sink", [ADDED], update(Notification(name="ops", sink=Sink())), CommandRejected,
     "exactly one of"),
    ("test-unknown", [], probe(), NotificationNotFound, "no notification 'ops'"),
    ("test-removed", [ADDED, REMOVED], probe(), NotificationNotFound, "no notification 'ops'"),
    ("bad-name", [], remove("bad name"), CommandRejected, "invalid notification name 'bad name'"),
    ("names-differ", [], add(name="other"), CommandRejected, "'ops' sent as 'other'"),
    ("bad-sink", [], add(Notification(name="ops", sink=Sink())), CommandRejected, "exactly one of"),
    ("bad-kind", [], add(Notification(name="ops", sink=Sink(subject="a"), on=["failed"])),
     CommandRejected, "unknown --on kind 'failed'"),
    ("log-subject", [], add(Notification(name="ops", sink=Sink(subject="jetcron.sched.x"))),
     CommandRejected, "'jetcron.sched.x': one of jetcron's own subjects"),
    ("inbox-subject", [], add(Notification(name="ops", sink=Sink(subject="_INBOX_alice.x"))),
     CommandRejected, "one of jetcron's own subjects"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "when", "error", "says"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_rejected(
    given: list[AnyEvent], when: NotificationCommand, error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says.replace("(", r"\(").replace(")", r"\)")) as caught:
        decide(fold(given), when)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("command", [add(), remove(), probe()], ids=["add", "remove", "test"])
def test_commands_round_trip_through_the_command_decoder(command: NotificationCommand) -> None:
    import msgspec

    assert command_decoder.decode(msgspec.json.encode(command)) == command
    # why: the verb is one token of the subject `jetcron.cmd.<user>.<verb>`
    assert "." not in str(command.__struct_config__.tag)
