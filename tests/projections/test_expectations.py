"""Expectations at a given time, from events (given) to verdicts (then); no server, no clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from projection_factory import History

from jetcron.domain.events import ExpectationMet, ExpectationMissed
from jetcron.projections import expectations, health, state

T0 = datetime(2024, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)


def hourly(h: History) -> None:
    h.create("job", "0 * * * *", expect_success_within_s=3600.0)
    h.tick(H - timedelta(seconds=2))


def failed(h: History) -> None:
    hourly(h)
    run = h.trigger("job", T0 + H)
    h.started(run)
    h.failed(run)


def running(h: History) -> None:
    hourly(h)
    h.started(h.trigger("job", T0 + H))


def paused(h: History) -> None:
    h.create("job", "0 * * * *", expect_success_within_s=3600.0)
    h.pause("job", reason="disk swap")


def skipped(h: History) -> None:
    hourly(h)
    h.skipped("job", T0 + H, reason="overlap: previous run still in flight")


def missed(h: History) -> None:
    hourly(h)
    h.tick(timedelta(minutes=5))
    h.missed("job", T0 + H, reason="scheduler down")


def never(h: History) -> None:
    h.create("job", "0 0 1 1 *", expect_success_within_s=3600.0)


def succeeded(h: History) -> None:
    hourly(h)
    run = h.trigger("job", T0 + H)
    h.started(run)
    h.succeeded(run)


CASES: list[tuple[str, Callable[[History], None], str | None]] = [
    ("failed", failed, "failed"),
    ("still-running", running, "still_running"),
    ("paused", paused, "paused"),
    ("skipped", skipped, "skipped"),
    ("missed", missed, "missed"),
    ("never-triggered", never, "never_triggered"),
    ("met-in-time", succeeded, None),
]


@pytest.mark.parametrize(
    ("given", "cause"), [(g, c) for _, g, c in CASES], ids=[i for i, _, _ in CASES]
)
def test_success_within_is_missed_with_the_cause_from_the_ledger(
    given: Callable[[History], None], cause: str | None
) -> None:
    h = History(start=T0)
    given(h)
    views = state.replay(h.events)
    now = T0 + H + timedelta(minutes=30)
    verdicts = expectations.check(views, now)
    assert [getattr(v, "cause", None) for v in verdicts] == ([cause] if cause else [])
    assert expectations.check(views, T0 + timedelta(minutes=59)) == []  # before the deadline
    if cause:
        [v] = verdicts
        assert isinstance(v, ExpectationMissed) and v.kind == "success_within"
        assert v.deadline == T0 + timedelta(seconds=1) + H  # one hour after it was set


def test_a_miss_is_reported_once_then_met_by_the_next_success() -> None:
    h = History(start=T0)
    failed(h)
    now = T0 + H + timedelta(minutes=30)
    [miss] = expectations.check(state.replay(h.events), now)
    h.add(miss, actor="system:expectations")
    views = state.replay(h.events)
    assert expectations.check(views, now + H) == []  # still missed: no second report
    [problem] = [p for p in health.evaluate(views, now=now, executors_online={}).problems
                 if p.kind == "expectation_missed"]  # fmt: skip
    assert "failed" in problem.detail and problem.subject == "job"

    h.tick(H)
    run = h.trigger("job", T0 + 2 * H)
    h.succeeded(run)
    [met] = expectations.check(state.replay(h.events), h.now)
    assert isinstance(met, ExpectationMet) and (met.run_id, met.deadline) == (run, miss.deadline)
    assert expectations.msg_id(met) != expectations.msg_id(miss)
    h.add(met, actor="system:expectations")
    views = state.replay(h.events)
    assert views.schedules.rows["job"].expectations == {}
    # the clock starts again from that success
    assert expectations.check(views, h.now + timedelta(minutes=59)) == []
    assert len(expectations.check(views, h.now + H + timedelta(minutes=1))) == 1


def test_done_by_is_local_time_and_about_the_days_last_fire_before_it() -> None:
    h = History(start=datetime(2024, 7, 1, 12, tzinfo=UTC))
    h.create("nightly", "0 2 * * *", tz="Europe/Berlin", expect_done_by="06:00")
    h.tick(datetime(2024, 7, 2, 0, tzinfo=UTC) - h.now)  # 02:00 CEST
    run = h.trigger("nightly", datetime(2024, 7, 2, 0, tzinfo=UTC))
    h.started(run)
    h.failed(run, error="disk full")
    views = state.replay(h.events)
    assert expectations.check(views, datetime(2024, 7, 2, 3, 59, tzinfo=UTC)) == []
    [v] = expectations.check(views, datetime(2024, 7, 2, 4, 1, tzinfo=UTC))
    assert isinstance(v, ExpectationMissed)
    assert (v.kind, v.deadline, v.cause) == (
        "done_by",
        datetime(2024, 7, 2, 4, tzinfo=UTC),
        "failed",
    )
    assert v.after == datetime(2024, 7, 2, 0, tzinfo=UTC) and "disk full" in v.detail
    assert (
        expectations.msg_id(v) == f"expect-missed:{h.sid('nightly')}:done_by:2024-07-02T04:00:00Z"
    )


def test_done_by_before_the_expectation_was_set_is_not_reported() -> None:
    h = History(start=datetime(2024, 7, 2, 4, 30, tzinfo=UTC))
    h.create("nightly", "0 2 * * *", tz="Europe/Berlin", expect_done_by="06:00")
    assert expectations.check(state.replay(h.events), h.now + H) == []


def test_changing_or_dropping_an_expectation_clears_its_miss() -> None:
    h = History(start=T0)
    failed(h)
    [miss] = expectations.check(state.replay(h.events), T0 + 2 * H)
    h.add(miss, actor="system:expectations")
    h.update("job", expect_success_within_s=None)
    views = state.replay(h.events)
    assert views.schedules.rows["job"].expectations == {}
    assert expectations.check(views, T0 + 5 * H) == []


def test_done_by_owes_nothing_on_a_day_a_calendar_takes_the_fire_away() -> None:
    from datetime import date

    from jetcron.domain.calendar import CalendarDefinition
    from jetcron.domain.events import CalendarCreated

    h = History(start=datetime(2024, 7, 1, 12, tzinfo=UTC))
    holidays = CalendarDefinition(tz="Europe/Berlin", dates=[date(2024, 7, 2)])
    h.add(CalendarCreated(name="holidays", version=1, definition=holidays))
    h.create(
        "nightly", "0 2 * * *", tz="Europe/Berlin", expect_done_by="06:00", exclude=["holidays"]
    )
    h.tick(datetime(2024, 7, 2, 0, tzinfo=UTC) - h.now)
    h.skipped("nightly", datetime(2024, 7, 2, 0, tzinfo=UTC), reason="excluded by holidays")
    views = state.replay(h.events)
    assert expectations.check(views, datetime(2024, 7, 2, 4, 1, tzinfo=UTC)) == []
    # the next (working) day is owed its run again
    [v] = expectations.check(views, datetime(2024, 7, 3, 4, 1, tzinfo=UTC))
    assert isinstance(v, ExpectationMissed) and v.after == datetime(2024, 7, 3, 0, tzinfo=UTC)
