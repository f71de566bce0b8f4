"""Notification sinks and health acks are changes an auditor reads in `audit`; no server."""

from __future__ import annotations

from datetime import timedelta

from projection_factory import T0, History, fold

from jetcron.cli import views as cli_views
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import HealthAcknowledged
from jetcron.domain.notifications import DEFAULT_KINDS, Notification, Sink
from jetcron.domain.notify_events import NotificationAdded, NotificationRemoved
from jetcron.projections import fire_queries, queries

HOOK = Notification(
    name="ops", sink=Sink(webhook="https://hooks.example/x", secret="s3cr3t"), on=["failure"]
)


def _on_behalf(h: History, event: object, reason: str = "") -> None:
    """As the gateway appends it: the operator identity, the token's user as a note."""
    h.add(event, actor="operator", reason=reason)  # type: ignore[arg-type]
    last = h.events[-1]
    envelope = Envelope(id=last.envelope.id, at=last.envelope.at, actor="operator",
                        event=last.envelope.event, reason=reason, on_behalf_of="opx")  # fmt: skip
    h.events[-1] = StoredEvent(last.seq, last.subject, envelope)


def test_sinks_and_acks_are_in_the_audit_with_who_asked() -> None:
    h = History()
    h.create("ops")  # a schedule of the same name: its lifecycle is its own
    _on_behalf(h, NotificationAdded(name="ops", notification=HOOK))
    h.add(HealthAcknowledged(), actor="ops-team", reason="test ack")
    h.add(NotificationRemoved(name="ops"), actor="alice", reason="no longer needed")
    v = fold(h.events)
    now = T0 + timedelta(hours=1)

    entries = queries.audit_of(v, {}, now)
    lines = [line for e in entries for line in cli_views.audit_lines(e)]
    listed = queries.notifications_of(v, {}, now)

    assert [(e["type"], e["name"], e["actor"]) for e in entries] == [
        ("schedule.created", "ops", "alice"),
        ("notify.added", "ops", "operator (on behalf of opx)"),
        ("health.acknowledged", "health", "ops-team"),
        ("notify.removed", "ops", "alice"),
    ]
    assert "s3cr3t" not in str(entries)
    assert lines[-6:] == [
        "2024-01-01T00:00:02Z ops notification added by operator (on behalf of opx)",
        "    webhook: https://hooks.example/x",
        "    on: failure",
        "    signed: yes",
        "2024-01-01T00:00:03Z health acknowledged (health --ack) by ops-team: test ack",
        "2024-01-01T00:00:04Z ops notification removed by alice: no longer needed",
    ]
    assert listed == []
    assert [e["type"] for e in queries.audit_of(v, {"name": "ops"}, now)][0] == "schedule.created"
    assert fire_queries.fires_of(v, {"name": "ops"}, now)["fires"]  # the sink is no lifecycle of it


def test_notify_list_keeps_on_behalf_of() -> None:
    h = History()
    _on_behalf(h, NotificationAdded(name="ops", notification=HOOK))
    [row] = queries.notifications_of(fold(h.events), {}, T0 + timedelta(hours=1))
    assert row["added_by"] == "operator (on behalf of opx)"


def test_an_updated_sink_shows_what_changed_never_the_key() -> None:
    from jetcron.domain.notify_events import NotificationUpdated

    h = History()
    h.add(NotificationAdded(name="ops", notification=HOOK))
    moved = Notification(
        name="ops", sink=Sink(webhook="https://hooks.example/y", secret="kv:ops.file")
    )
    h.add(NotificationUpdated(name="ops", notification=moved), actor="alice", reason="apply")
    [_, entry] = queries.audit_of(fold(h.events), {}, T0 + timedelta(hours=1))
    assert (entry["type"], entry["diff"]) == (
        "notify.updated",
        {
            "webhook": ["https://hooks.example/x", "https://hooks.example/y"],
            "on": [["failure"], list(DEFAULT_KINDS)],
            "secret": ["(a value in the log)", "kv:ops.file"],
        },
    )
