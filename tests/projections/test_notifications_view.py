"""The notifications view: sinks, delivered and given-up counts, failing until a delivery works;
health reports a failing sink."""

from __future__ import annotations

from datetime import UTC, datetime

from projection_factory import History

from jetcron.domain.notifications import Notification, Sink
from jetcron.domain.notify_events import (
    NotificationAdded,
    NotificationRemoved,
    NotifyDelivered,
    NotifyFailed,
)
from jetcron.projections import health, queries, state

T0 = datetime(2024, 1, 1, tzinfo=UTC)
OPS = Notification(name="ops", sink=Sink(webhook="https://h/x", secret="k"))


def failed(seq: int, final: bool = False) -> NotifyFailed:
    return NotifyFailed(name="ops", event_seq=seq, kind="failure", error="HTTP 503", final=final)


def test_failing_from_a_failed_attempt_until_a_delivery_and_given_up_counted() -> None:
    h = History(start=T0)
    h.add(NotificationAdded(name="ops", notification=OPS))
    h.add(failed(7))
    views = state.replay(h.events)
    row = views.notifications.rows["ops"]
    assert (row.failing, row.failed, row.last_error) == (True, 0, "HTTP 503")
    [problem] = health.evaluate(views, now=h.now, executors_online={}).problems
    assert (problem.kind, problem.subject) == ("notify_failing", "ops")
    assert "HTTP 503" in problem.detail

    h.add(failed(7, final=True))
    h.add(NotifyDelivered(name="ops", event_seq=9, kind="failure", delivery_id="ops:9"))
    views = state.replay(h.events)
    row = views.notifications.rows["ops"]
    assert (row.failing, row.failed, row.delivered) == (False, 1, 1)
    assert health.evaluate(views, now=h.now, executors_online={}).healthy
    [listed] = queries.notifications_of(views, {}, h.now)
    assert (listed["sink"], listed["signed"], listed["where"]) == ("webhook", True, "https://h/x")
    assert "secret" not in listed["notification"]["sink"]

    h.add(NotificationRemoved(name="ops"))
    assert state.replay(h.events).notifications.rows == {}


def test_events_retrying_are_counted_so_failing_never_shows_beside_zero() -> None:
    h = History(start=T0)
    h.add(NotificationAdded(name="ops", notification=OPS))
    h.add(failed(7))
    h.add(failed(7))
    h.add(failed(8))
    row = state.replay(h.events).notifications.rows["ops"]
    assert (row.failing, row.retrying, row.failed) == (True, [7, 8], 0)
    [problem] = health.evaluate(state.replay(h.events), now=h.now, executors_online={}).problems
    assert problem.detail.endswith("HTTP 503; 2 event(s) retrying")

    h.add(failed(7, final=True))
    h.add(NotifyDelivered(name="ops", event_seq=8, kind="failure", delivery_id="ops:8"))
    row = state.replay(h.events).notifications.rows["ops"]
    assert (row.failing, row.retrying, row.failed, row.delivered) == (False, [], 1, 1)


def test_a_test_message_neither_counts_nor_makes_the_sink_failing() -> None:
    h = History(start=T0)
    h.add(NotificationAdded(name="ops", notification=OPS))
    h.add(NotifyFailed(name="ops", event_seq=3, kind="test", error="HTTP 503", final=True))
    views = state.replay(h.events)
    row = views.notifications.rows["ops"]
    assert (row.failing, row.failed, row.test_error, row.tested_at) == (False, 0, "HTTP 503", h.now)
    assert health.evaluate(views, now=h.now, executors_online={}).healthy

    h.add(NotifyDelivered(name="ops", event_seq=4, kind="test", delivery_id="ops:4"))
    row = state.replay(h.events).notifications.rows["ops"]
    assert (row.delivered, row.test_error) == (0, "")


def test_a_command_sink_is_listed_quoted_as_schedule_show_quotes_a_job() -> None:
    """newcomer18a #7: `sh -c cat >> f` could be 3 words or 5; quoted it says which."""
    cat = Sink(command=["sh", "-c", "cat >> /tmp/a b.out"])
    h = History(start=T0)
    h.add(NotificationAdded(name="cmd", notification=Notification(name="cmd", sink=cat)))
    [listed] = queries.notifications_of(state.replay(h.events), {}, h.now)
    assert listed["where"] == "sh -c 'cat >> /tmp/a b.out'"


def test_an_updated_sink_keeps_its_delivery_record() -> None:
    from jetcron.domain.notify_events import NotificationUpdated

    h = History(start=T0)
    h.add(NotificationAdded(name="ops", notification=OPS))
    h.add(NotifyDelivered(name="ops", event_seq=9, kind="failure", delivery_id="ops:9"))
    pager = Notification(name="ops", sink=Sink(subject="ops.pager"), on=["failure"])
    h.add(NotificationUpdated(name="ops", notification=pager))
    row = state.replay(h.events).notifications.rows["ops"]
    assert (row.notification, row.delivered, row.added_at) == (pager, 1, h.events[0].envelope.at)
