"""Health: each problem kind, and a healthy report when nothing is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from projection_factory import T0, History, fold

from jetcron.projections import health

NOW = T0 + timedelta(days=30)


@dataclass
class Executor:
    """A heartbeat as health sees it."""

    targets: list[str] = field(default_factory=list)


ONLINE = {"host-a": Executor(targets=["host-a", "default"])}


def kinds(h: History, online: dict[str, Executor] = ONLINE) -> list[tuple[str, str]]:
    """(kind, subject) of every problem found at NOW."""
    report = health.evaluate(fold(h.events), now=NOW, executors_online=online)
    assert report.healthy == (not report.problems)
    return [(p.kind, p.subject) for p in report.problems]


def recent_history() -> History:
    """A schedule created long ago, running daily until NOW, all good."""
    h = History(start=T0)
    h.create("daily", "0 3 * * *")
    h.now = NOW - timedelta(days=1)
    h.succeeded(h.trigger("daily", h.now))
    return h


def test_healthy() -> None:
    assert kinds(recent_history()) == []


def test_failing_below_half_after_ten_finished_runs() -> None:
    h = recent_history()  # 1 succeeded
    for i in range(9):
        run = h.trigger("daily", NOW - timedelta(hours=20 - i))
        if i % 2:
            h.failed(run)
        else:
            h.succeeded(run)
    few = History(start=T0)
    few.create("daily", "0 3 * * *")
    for i in range(9):
        few.failed(few.trigger("daily", NOW - timedelta(hours=20 - i)))
    h.failed(h.trigger("daily", NOW - timedelta(hours=2)))
    h.failed(h.trigger("daily", NOW - timedelta(hours=1)))
    half = kinds(h)  # 6 of 12
    h.failed(h.trigger("daily", NOW - timedelta(minutes=30)))

    assert ("failing", "daily") not in kinds(few)  # 0 of 9: too few to judge
    assert ("failing", "daily") not in half
    assert ("failing", "daily") in kinds(h)  # 6 of 13


def test_consecutive_failures() -> None:
    h = recent_history()
    for hour in (3, 2, 1):
        h.failed(h.trigger("daily", NOW - timedelta(hours=hour)))

    assert kinds(h) == [("consecutive_failures", "daily")]


def test_stale_schedule() -> None:
    h = History(start=T0)
    h.create("daily", "0 3 * * *")
    h.succeeded(h.trigger("daily", T0))

    assert kinds(h) == [("stale", "daily")]


def test_young_paused_or_future_schedules_are_not_stale() -> None:
    young = History(start=NOW - timedelta(days=3))
    young.create("daily", "0 3 * * *")
    paused = History(start=T0)
    paused.create("daily", "0 3 * * *")
    paused.pause("daily", "holiday")
    future = History(start=T0)
    future.create("later", "0 3 * * *", start=NOW + timedelta(days=2))
    yearly = History(start=T0)
    yearly.create("yearly", "0 0 1 1 *")

    assert [kinds(x) for x in (young, paused, future, yearly)] == [[], [], [], []]


def test_paused_by_system() -> None:
    h = recent_history()
    h.pause("daily", "3 consecutive failures", by_system=True, actor="jetcron")

    report = health.evaluate(fold(h.events), now=NOW, executors_online=ONLINE)

    assert [(p.kind, p.detail) for p in report.problems] == [
        ("paused_by_system", "3 consecutive failures"),
    ]


def test_executor_offline_for_waiting_runs() -> None:
    h = recent_history()
    h.trigger("daily", NOW - timedelta(minutes=5), target="gpu")
    started = h.trigger("daily", NOW - timedelta(minutes=4), target="tape")
    h.started(started)

    assert kinds(h) == [("executor_offline", "gpu")]
    assert kinds(h, {**ONLINE, "box": Executor(targets=["box", "gpu"])}) == []


def test_poison_events() -> None:
    views = fold(recent_history().events)
    views.poison = 2

    report = health.evaluate(views, now=NOW, executors_online=ONLINE)

    assert (report.healthy, [(p.kind, p.subject) for p in report.problems]) == (
        False,
        [("poison_events", "projections")],
    )
