"""Health: each problem kind, and a healthy report when nothing is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from projection_factory import T0, History, fold

from jetcron.projections import health, problems

NOW = T0 + timedelta(days=30)


@dataclass
class Executor:
    """A heartbeat as health sees it."""

    targets: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


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


def test_flaky_below_half_after_ten_finished_runs_with_a_good_last_run() -> None:
    h = recent_history()  # 1 succeeded
    for i in range(9):
        run = h.trigger("daily", NOW - timedelta(hours=20 - i))
        if i % 2:
            h.failed(run)
        else:
            h.succeeded(run)
    few = History(start=T0)
    few.create("daily", "0 3 * * *")
    for i in range(8):
        few.failed(few.trigger("daily", NOW - timedelta(hours=20 - i)))
    few.succeeded(few.trigger("daily", NOW - timedelta(hours=1)))
    for hour in (5, 4, 3, 2):
        h.failed(h.trigger("daily", NOW - timedelta(hours=hour)))
    h.succeeded(h.trigger("daily", NOW - timedelta(hours=1)))  # 7 of 15 succeeded
    half = History(start=T0)
    half.create("daily", "0 3 * * *")
    for i in range(10):
        run = half.trigger("daily", NOW - timedelta(hours=20 - i))
        (half.failed if i % 2 else half.succeeded)(run)
    half.succeeded(half.trigger("daily", NOW - timedelta(hours=1)))  # 6 of 11

    assert ("flaky", "daily") not in kinds(few)  # 1 of 9: too few to judge
    assert ("flaky", "daily") not in kinds(half)
    assert kinds(h) == [("flaky", "daily")]


def test_failing_from_the_first_failed_run_with_since_and_streak() -> None:
    h = recent_history()
    first = h.trigger("daily", NOW - timedelta(hours=3))
    failed_at = h.next_at()
    h.failed(first, error="disk full\nmore detail")

    one = health.evaluate(fold(h.events), now=NOW, executors_online=ONLINE)
    h.timed_out(h.trigger("daily", NOW - timedelta(hours=2)), timeout_s=30)
    h.failed(h.trigger("daily", NOW - timedelta(hours=1)), error="exited with code 3")
    three = health.evaluate(fold(h.events), now=NOW, executors_online=ONLINE)
    h.succeeded(h.trigger("daily", NOW - timedelta(minutes=1)))

    assert (one.healthy, [(p.kind, p.subject, p.since, p.streak) for p in one.problems]) == (
        False,
        [("failing", "daily", failed_at, 1)],
    )
    assert one.problems[0].detail == (
        "failing since 2024-01-30T00:00:04Z (the last run failed): disk full"
    )
    assert [(p.kind, p.since, p.streak) for p in three.problems] == [("failing", failed_at, 3)]
    assert "(the last 3 runs failed): exited with code 3" in three.problems[0].detail
    assert kinds(h) == []


def test_breaker_pause_is_reported_apart_from_failing() -> None:
    h = recent_history()
    for hour in (3, 2, 1):
        h.failed(h.trigger("daily", NOW - timedelta(hours=hour)))
    h.pause("daily", "3 consecutive failures", by_system=True, actor="system")

    assert kinds(h) == [("failing", "daily"), ("paused_by_system", "daily")]


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


def test_executor_offline_while_it_holds_a_run() -> None:
    h = recent_history()
    held = h.trigger("daily", NOW - timedelta(minutes=4), target="extra")
    h.started(held, executor="extra")

    assert kinds(h, {**ONLINE, "extra": Executor(targets=["extra"])}) == []
    report = health.evaluate(fold(h.events), now=NOW, executors_online=ONLINE)
    assert [(p.kind, p.subject) for p in report.problems] == [("executor_offline", "extra")]
    assert report.problems[0].detail.startswith("not online; holds 1 run in flight, started at")


def test_an_executor_holding_a_run_is_offline_since_its_heartbeat_expired_not_the_run_start() -> (
    None
):
    """newcomer19b F4: `(since <the run's fire time>)` read as offline since then."""
    from jetcron.domain.events import ExecutorOffline, ExecutorOnline

    h = recent_history()
    h.add(ExecutorOnline(name="extra", tags=[]), actor="jetcron")
    held = h.trigger("daily", NOW - timedelta(minutes=4), target="extra")
    h.started(held, executor="extra")
    h.tick(timedelta(seconds=40))
    gone_at = h.next_at()
    h.add(ExecutorOffline(name="extra"), actor="jetcron")

    [problem] = health.evaluate(fold(h.events), now=NOW, executors_online=ONLINE).problems
    started = fold(h.events).runs.rows[held].started_at
    assert (problem.kind, problem.subject, problem.since) == ("executor_offline", "extra", gone_at)
    assert problem.detail.startswith(
        f"offline since {problems.iso(gone_at)} (its heartbeat expired); holds 1 run in flight, "
        f"started at {problems.iso(started)}"
    )


def test_a_fan_out_member_offline_is_reported_with_its_group_and_since_when() -> None:
    from jetcron.domain.events import ExecutorOffline, ExecutorOnline

    h = recent_history()
    h.create("lamps", "*/15 * * * *", target="all:lights")
    h.add(ExecutorOnline(name="pi1", tags=["lights"]), actor="jetcron")
    h.add(ExecutorOnline(name="pi2", tags=["lights", "pumps"]), actor="jetcron")
    h.add(ExecutorOnline(name="nas", tags=["backup"]), actor="jetcron")
    gone_at = h.next_at()
    h.add(ExecutorOffline(name="pi2"), actor="jetcron")
    h.add(ExecutorOffline(name="nas", stopped=True), actor="jetcron")  # not listed: on purpose
    both = {**ONLINE, "pi1": Executor(), "pi2": Executor()}

    report = health.evaluate(
        fold(h.events), now=NOW, executors_online={**ONLINE, "pi1": Executor()}
    )
    assert [(p.kind, p.subject, p.since) for p in report.problems] == [
        ("executor_offline", "pi2", gone_at)
    ]
    assert report.problems[0].detail.startswith("member of all:lights (schedule(s) lamps)")
    assert kinds(h, both) == []  # back online; nas is in no fan-out group of a live schedule
    h.pause("lamps")  # no member misses a fire now; pi2's heartbeat still expired
    report = health.evaluate(
        fold(h.events), now=NOW, executors_online={**ONLINE, "pi1": Executor()}
    )
    assert [(p.subject, p.detail[:7]) for p in report.problems] == [("pi2", "offline")]


def test_an_executor_whose_heartbeat_expired_is_listed_until_it_comes_back_or_is_acked() -> None:
    """newcomer16b N5: a dead pool member (kill -9) with no run waiting for it read `healthy`."""
    from jetcron.domain.events import ExecutorOffline, ExecutorOnline, HealthAcknowledged

    h = recent_history()
    h.add(ExecutorOnline(name="ex1", tags=["pool"]), actor="jetcron")
    h.add(ExecutorOnline(name="ex2", tags=["pool"]), actor="jetcron")
    died_at = h.next_at()
    h.add(ExecutorOffline(name="ex2"), actor="jetcron")
    with_ex1 = {**ONLINE, "ex1": Executor(targets=["ex1", "pool"])}

    report = health.evaluate(fold(h.events), now=NOW, executors_online=with_ex1)
    assert [(p.kind, p.subject, p.since) for p in report.problems] == [
        ("executor_offline", "ex2", died_at)
    ]
    assert "heartbeat expired" in report.problems[0].detail
    assert "health --ack" in report.problems[0].detail
    assert kinds(h, {**with_ex1, "ex2": Executor()}) == []  # live again, the log not yet told

    h.add(HealthAcknowledged(), actor="alice")  # gone for good
    assert kinds(h, with_ex1) == []
    h.add(ExecutorOnline(name="ex2", tags=["pool"]), actor="jetcron")
    h.add(ExecutorOffline(name="ex2"), actor="jetcron")
    assert kinds(h, with_ex1) == [("executor_offline", "ex2")]  # back, then dead again


def test_an_executor_stopped_on_purpose_is_not_listed() -> None:
    from jetcron.domain.events import ExecutorOffline, ExecutorOnline

    h = recent_history()
    h.add(ExecutorOnline(name="ex2", tags=["pool"]), actor="jetcron")
    h.add(ExecutorOffline(name="ex2", stopped=True), actor="jetcron")

    assert kinds(h) == []
    assert fold(h.events).hosts.quiet == {"ex2": "stopped"}


def test_an_acknowledged_fan_out_member_is_not_listed() -> None:
    from jetcron.domain.events import ExecutorOffline, ExecutorOnline, HealthAcknowledged

    h = recent_history()
    h.create("lamps", "*/15 * * * *", target="all:lights")
    h.add(ExecutorOnline(name="pi2", tags=["lights"]), actor="jetcron")
    h.add(ExecutorOffline(name="pi2", stopped=True), actor="jetcron")
    assert kinds(h) == [("executor_offline", "pi2")]  # stopped, yet it misses the group's fires

    h.add(HealthAcknowledged(), actor="alice")
    assert kinds(h) == []


def test_a_member_from_before_tags_were_recorded_is_known_by_the_runs_it_ran() -> None:
    from jetcron.domain.events import ExecutorOnline

    h = recent_history()
    h.create("lamps", "*/15 * * * *", target="all:lights")
    h.add(ExecutorOnline(name="pi2"), actor="jetcron")  # an older online event: no tags
    member = h.member(h.trigger("lamps", NOW - timedelta(hours=1), target="all:lights"), "pi2")
    h.started(member, executor="pi2")
    h.succeeded(member, executor="pi2")

    assert kinds(h) == [("executor_offline", "pi2")]


def test_poison_events() -> None:
    views = fold(recent_history().events)
    views.poison = 2

    report = health.evaluate(views, now=NOW, executors_online=ONLINE)

    assert (report.healthy, [(p.kind, p.subject) for p in report.problems]) == (
        False,
        [("poison_events", "projections")],
    )


def test_an_acknowledgement_clears_what_was_unreadable_or_rejected_before_it() -> None:
    from jetcron.domain.events import HealthAcknowledged
    from jetcron.projections.state import apply_batch, record_undecodable

    h = recent_history()
    views = fold(h.events)
    record_undecodable(views, len(h.events) + 1, "fire.teleported", "unknown event type")
    h.tick(timedelta(seconds=1))
    h.events.append(h.events[-1])  # keep seq numbering: the undecodable one took this seq
    ack = h.add(HealthAcknowledged(), actor="ops", reason="known: a test publisher")
    apply_batch(views, [ack])
    after_ack = health.evaluate(views, now=NOW, executors_online=ONLINE)
    record_undecodable(views, ack.seq + 1, "fire.teleported", "unknown event type")
    later = health.evaluate(views, now=NOW, executors_online=ONLINE)

    assert (after_ack.healthy, after_ack.acknowledged, views.poison) == (True, 1, 2)
    assert [(p.kind, p.detail) for p in later.problems] == [
        (
            "poison_events",
            f"1 event(s) could not be folded since the last `health --ack`: seq {ack.seq + 1} "
            "(fire.teleported); see the projection log (or `jetcron -v replay --verify`), then "
            "`jetcron health --ack`",
        )
    ]


def test_no_ticker_leader_says_since_when_and_why() -> None:
    held, looking = T0 + timedelta(minutes=5), T0
    lost = health.no_ticker_leader(
        None, last_held=held, looking_since=looking, cause="no responders"
    )
    never = health.no_ticker_leader(None, last_held=None, looking_since=looking)

    assert health.no_ticker_leader("host:1", last_held=None, looking_since=looking) is None
    assert lost is not None and never is not None
    assert (lost.kind, lost.subject, lost.since) == ("no_ticker_leader", "scheduler", held)
    assert lost.detail == (
        "no scheduler is ticking (nobody holds the ticker lease; last held at about "
        f"{problems.iso(held)}), so nothing fires; this replica cannot take it: no responders"
    )
    assert never.since == looking and f"not seen held since {problems.iso(looking)}" in never.detail
