"""The ticker's due queue and the shared next-fire memo: pure, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.fires import next_fire
from jetcron.scheduler import firetimes
from jetcron.scheduler.entry import Entry
from jetcron.scheduler.queue import DueQueue

T = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def entry(sid: str) -> Entry:
    return Entry.of(sid, sid, 1, ScheduleDefinition(spec="@hourly", job=Job(command=["true"])))


def at(minutes: int) -> datetime:
    return T + timedelta(minutes=minutes)


def drain(queue: DueQueue) -> list[tuple[datetime, list[str]]]:
    out = []
    while queue:
        when, entries = queue.pop()
        out.append((when, [e.schedule_id for e in entries]))
    return out


def test_entries_come_out_by_instant_together_and_in_push_order() -> None:
    queue = DueQueue()
    a, b, c, d = (entry(s) for s in "abcd")
    earliest = [queue.push(when, e) for when, e in ((at(5), a), (at(1), b), (at(5), c), (at(3), d))]
    assert earliest == [True, True, False, False]  # what the tick loop must wake up for
    assert queue.first() == at(1)
    assert queue.live() == {"a": at(5), "b": at(1), "c": at(5), "d": at(3)}
    assert drain(queue) == [(at(1), ["b"]), (at(3), ["d"]), (at(5), ["a", "c"])]
    assert queue.first() is None and not queue
    assert all(e.queued is None for e in (a, b, c, d))  # taken off the queue


def test_a_moved_or_dropped_entry_leaves_only_stale_places_behind() -> None:
    queue = DueQueue()
    a, b, c = entry("a"), entry("b"), entry("c")
    queue.push(at(1), a)
    queue.push(at(2), b)
    queue.push(at(2), c)
    queue.push(at(3), a)  # moved later: its place at +1 is stale
    DueQueue.drop(b)  # deleted: its place at +2 is stale
    queue.push(at(2), c)  # queued again where it already was: one live place
    assert queue.live() == {"a": at(3), "c": at(2)}
    assert drain(queue) == [(at(1), []), (at(2), ["c"]), (at(3), ["a"])]


def test_an_entry_taken_off_and_queued_again_at_the_same_instant_comes_out_once() -> None:
    queue = DueQueue()
    a = entry("a")
    queue.push(at(1), a)
    DueQueue.drop(a)
    queue.push(at(1), a)  # two references in one bucket, one live place
    assert drain(queue) == [(at(1), ["a"])]


SPECS = [
    ("*/7 * * * *", "UTC"),
    ("30 2 * * *", "Europe/Berlin"),  # a fixed time inside the spring gap on 2026-03-29
    ("*/20 1-3 * * *", "Europe/London"),  # interval-like across the spring change
    ("0 0 1 * *", "Australia/Lord_Howe"),
    ("@every 90s", "UTC"),
    ("@at 2026-03-29T03:00:00Z", "UTC"),  # one fire, then none left
]


@settings(max_examples=40, deadline=None)
@given(
    spec=st.sampled_from(SPECS),
    offsets=st.lists(st.integers(min_value=0, max_value=6 * 3600 * 10**6), max_size=40),
)
def test_the_memo_answers_what_next_fire_answers_for_any_order_of_instants(
    spec: tuple[str, str], offsets: list[int]
) -> None:
    memo = firetimes._FireMemo()
    for us in offsets:
        after = T + timedelta(microseconds=us)
        assert memo.fire_after(*spec, after) == next_fire(*spec, after)


def test_schedules_created_at_distinct_instants_of_one_stretch_share_one_evaluation(
    monkeypatch,
) -> None:
    calls: list[datetime] = []

    def counted(spec: str, tz: str, after: datetime) -> datetime | None:
        calls.append(after)
        return next_fire(spec, tz, after)

    monkeypatch.setattr(firetimes, "next_fire", counted)
    memo = firetimes._FireMemo()
    # created one per second (each its own instant) between two fires of */5
    fires = {
        memo.fire_after("*/5 * * * *", "UTC", at(1) + timedelta(seconds=s)) for s in range(180)
    }
    assert fires == {at(5)}
    assert len(calls) == 1
    assert memo.fire_after("*/5 * * * *", "UTC", at(5)) == at(10)  # the next stretch: evaluated
    assert len(calls) == 2
