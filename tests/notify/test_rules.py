"""Pure parts of notifications: what an event is about, who wants it, the message, the
signature, and storm grouping."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.errors import CommandRejected
from jetcron.domain.events import (
    Event,
    ExecutorOffline,
    ExecutorOnline,
    ExpectationMet,
    RunFailed,
    RunLost,
    RunSucceeded,
    RunTimedOut,
    SchedulePaused,
    ScheduleResumed,
)
from jetcron.domain.notifications import Notification, Sink, validate_notification
from jetcron.domain.notify_events import NotifyTest
from jetcron.notify import rules

AT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
RUN = {"schedule_id": "s1", "name": "backup", "fire_id": "s1:v1:20261202T030000Z",
       "fire_time": AT, "run_id": "r1", "executor": "nas"}  # fmt: skip
SCHED = {"schedule_id": "s1", "name": "backup", "version": 2}
HOOK = Sink(webhook="https://hooks.example/x", secret="k")


def stored(event: Event, actor: str = "executor:nas", seq: int = 7) -> StoredEvent:
    env = Envelope(id=f"e{seq}", at=AT, actor=actor, event=event)  # type: ignore[arg-type]
    return StoredEvent(seq, "jetcron.test", env)


@pytest.mark.parametrize(
    ("event", "actor", "kind"),
    [
        (RunFailed(**RUN, exit_code=1), "executor:nas", "failure"),
        (RunFailed(**RUN, next_retry_at=AT + timedelta(seconds=10)), "executor:nas", None),
        (RunTimedOut(**RUN, timeout_s=30), "executor:nas", "timeout"),
        (RunTimedOut(**RUN, next_retry_at=AT), "executor:nas", None),
        (RunLost(**RUN), "system:ticker", "lost"),
        (RunSucceeded(**RUN), "executor:nas", None),
        (SchedulePaused(**SCHED, by_system=True), "system", "breaker_opened"),
        (SchedulePaused(**SCHED), "alice", "schedule_changed"),
        (ScheduleResumed(**SCHED), "system", "breaker_closed"),
        (ScheduleResumed(**SCHED), "alice", "schedule_changed"),
        (ExpectationMet(schedule_id="s1", name="backup", kind="done_by", deadline=AT), "x",
         "expectation_met"),
        (NotifyTest(name="ops"), "alice", "test"),
        (ExecutorOffline(name="nas"), "system:heartbeats", "executor_offline"),
        (ExecutorOnline(name="nas"), "system:heartbeats", "executor_online"),
    ],
    ids=["final-failure", "retried-failure", "timeout", "retried-timeout", "lost", "success",
         "breaker-opened", "operator-pause", "breaker-closed", "operator-resume", "met", "test",
         "executor-offline", "executor-online"],
)  # fmt: skip
def test_kind_of(event: Event, actor: str, kind: str | None) -> None:
    assert rules.kind_of(event, actor) == kind


def test_rules_match_kind_then_schedule_or_tag() -> None:
    every = Notification(name="all", sink=HOOK)
    named = Notification(name="named", sink=HOOK, on=["failure"], schedules=["backup"])
    tagged = Notification(name="tagged", sink=HOOK, on=["failure"], tags=["nas"])
    notes = {n.name: n for n in (every, named, tagged)}
    kind, wanted = rules.wanted(notes, stored(RunFailed(**RUN)), ["nas"])
    assert (kind, [n.name for n in wanted]) == ("failure", ["all", "named", "tagged"])
    other = RunFailed(**{**RUN, "name": "other"})
    assert [n.name for n in rules.wanted(notes, stored(other), [])[1]] == ["all"]
    assert rules.wanted(notes, stored(SchedulePaused(**SCHED)), ["nas"])[1] == []  # not subscribed
    assert [n.name for n in rules.wanted(notes, stored(NotifyTest(name="named")), [])[1]] == [
        "named"
    ]


def test_the_message_carries_schedule_run_fire_cause_and_the_why_command() -> None:
    n = Notification(name="ops", sink=HOOK)
    events = [stored(RunFailed(**RUN, exit_code=3, error="disk full"), seq=s) for s in (7, 9)]
    body = rules.message(n, "failure", events)
    assert body["id"] == "ops:9" and body["count"] == 2 and body["resolved"] is False
    assert body["schedule"] == {"name": "backup", "id": "s1"}
    assert body["run"] == {"id": "r1", "attempt": 1, "executor": "nas", "status": "failed"}
    assert body["fire"] == {"id": RUN["fire_id"], "time": "2026-12-02T03:00:00Z"}
    assert body["cause"] == "disk full"
    no_error = rules.message(n, "failure", [stored(RunFailed(**RUN, exit_code=3))])
    assert no_error["cause"] == "exit code 3"
    assert body["why"] == "jetcron why backup 2026-12-02T03:00:00Z"
    assert [e["seq"] for e in body["events"]] == [7, 9]


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    n = Notification(name="ops", sink=HOOK)
    body = b'{"kind":"failure"}'
    headers = rules.headers(body, 1764644400, "ops:7", n.sink.secret)
    assert headers["X-Jetcron-Signature"] == (
        "sha256=" + hmac.new(b"k", b'1764644400.{"kind":"failure"}', hashlib.sha256).hexdigest()
    )
    assert (headers["X-Jetcron-Timestamp"], headers["X-Jetcron-Delivery"]) == (
        "1764644400",
        "ops:7",
    )
    assert "X-Jetcron-Signature" not in rules.headers(body, 1, "ops:7")
    assert rules.signature("k", 1, body) != rules.signature("k", 2, body)


def test_a_storm_is_one_message_per_window_with_the_rest_grouped() -> None:
    groups = rules.Groups()
    key = ("ops", "backup")
    assert groups.admit(key, 60, now=0.0)  # the first goes at once
    for i in range(3):
        assert not groups.admit(key, 60, now=1.0 + i)
        groups.hold(key, i)
    assert groups.admit(("ops", "other"), 60, now=2.0)  # per schedule
    assert groups.due({"ops": 60}, now=59.0) == []
    assert groups.due({"ops": 60}, now=60.0) == [(key, [0, 1, 2])]
    assert not groups.admit(key, 60, now=61.0)  # the window restarted with that message
    assert rules.Groups().admit(key, 0, now=0.0) and rules.Groups().admit(key, 0, now=0.0)


@pytest.mark.parametrize(
    ("notification", "problem"),
    [
        (Notification(name="x", sink=Sink()), "exactly one of"),
        (Notification(name="x", sink=Sink(webhook="h", subject="s")), "exactly one of"),
        (Notification(name="x", sink=Sink(webhook="mailto:a@b")), "invalid --webhook"),
        (Notification(name="x", sink=Sink(subject="a.>")), "invalid --subject"),
        (Notification(name="x", sink=Sink(subject="a"), on=["nope"]), "unknown --on kind"),
        (Notification(name="x y", sink=Sink(subject="a")), "invalid notification name"),
        (Notification(name="x", sink=Sink(command=["true"], secret="k")), "--secret signs"),
    ],
)
def test_validation_names_the_problem(notification: Notification, problem: str) -> None:
    with pytest.raises(CommandRejected, match=problem):
        validate_notification(notification)


def test_executor_events_follow_the_heartbeats_once_per_change() -> None:
    from jetcron.projections import hosts, state

    views = state.Views()
    view = views.hosts
    [(online, first_id)] = hosts.transitions(view, ["nas"])
    assert online == ExecutorOnline(name="nas") and first_id == "executor-online:nas:0"
    state.apply(views, stored(online, seq=5))
    assert hosts.transitions(view, ["nas"]) == []
    [(offline, offline_id)] = hosts.transitions(view, [])
    assert offline == ExecutorOffline(name="nas") and offline_id == "executor-offline:nas:5"
    body = rules.message(Notification(name="ops", sink=HOOK), "executor_offline", [stored(offline)])
    assert (body["executor"], body["schedule"]) == ("nas", None)
    assert (
        rules.group_of(offline, "executor_offline") == "nas:executor_offline"
        and rules.schedule_of(offline) == ""
    )
