"""Owed fates (scheduler/owed.py), pure: what a pause, update or delete leaves owed, what the
leader appends for it and when, and what settles it; no server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from test_planner import BUSY, IN_FLIGHT, T, entry, minutes

from jetcron.domain.definition import PAUSED_UNDECIDED, Job
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import RunSkipped, RunTriggered, ScheduleCreated, ScheduleDeleted
from jetcron.scheduler import owed
from jetcron.scheduler.checkpoint import snapshot_of, state_from
from jetcron.scheduler.entry import Entry, Owed, OwedFate
from jetcron.scheduler.planner import Buffer, Cancel, Decision, Miss, Skip, Trigger
from jetcron.scheduler.state import TickerState

AT = T + timedelta(seconds=8)
"""The change: 8 s after the fire at T, which the log has no fate for yet."""


def due(**kw: Any) -> Entry:
    """The fire at T due and undecided (the last fire five minutes before)."""
    return entry(**{"last_fire": minutes(-5), **kw})


def busy(**kw: Any) -> Entry:
    """As `due`, with run r0 (of the fire before) still in flight."""
    return due(in_flight=dict(IN_FLIGHT), fires={"r0": ("f0", minutes(-5))}, **kw)


NOTE = [
    pytest.param(busy(), "paused", [OwedFate("skip", T, BUSY, "r0")], id="busy-skipped"),
    pytest.param(due(), "paused", [OwedFate("skip", T, PAUSED_UNDECIDED)], id="idle-paused-skips"),
    pytest.param(due(), "updated", [OwedFate("trigger", T)], id="update-runs"),
    pytest.param(due(), "deleted", [OwedFate("skip", T, owed.DELETED)], id="delete-skips"),
    pytest.param(busy(), "deleted", [OwedFate("skip", T, BUSY, "r0")], id="delete-busy"),
    pytest.param(
        busy(overlap="cancel_previous"),
        "updated",
        [OwedFate("cancel", T, "", "r0"), OwedFate("trigger", T)],
        id="cancel-previous",
    ),
    pytest.param(
        busy(overlap="cancel_previous"),
        "paused",
        [OwedFate("skip", T, PAUSED_UNDECIDED)],
        id="cancel-previous-paused-cancels-nothing",
    ),
    pytest.param(
        busy(overlap="buffer_one"), "updated", [OwedFate("buffer", T, run_id="r0")], id="buffer"
    ),
    pytest.param(
        busy(overlap="buffer_one"),
        "paused",
        [OwedFate("skip", T, PAUSED_UNDECIDED)],
        id="buffer-paused-skips",
    ),
    pytest.param(due(last_fire=T), "paused", None, id="decided-already"),
    pytest.param(due(active=False), "deleted", None, id="paused-before"),
    pytest.param(due(completed=True), "updated", None, id="completed"),
]


@pytest.mark.parametrize(("given", "change", "then"), NOTE)
def test_note(given: Entry, change: str, then: list[OwedFate] | None) -> None:
    record = owed.note(given, change, AT, {})
    assert (record and list(record.fates)) == then
    if record is not None:
        assert owed.due([record]) == AT  # at once, paused or not
        assert (record.version, record.change) == (1, change)


def test_fires_coalesced_into_one_a_pause_stops_are_skipped_with_it() -> None:
    """Several fires due within the grace at the pause (an outage): updated, the newest runs
    and the others are coalesced into it; paused, none runs and none names one that would
    (newcomer19b F1: two 'coalesced' lines named a fire the executor then cancelled)."""
    given = entry(spec="*/1 * * * *", last_fire=minutes(-5), floor=minutes(-10))
    at = T  # T-1m (60 s late: still within the grace) and T are due at once
    updated = owed.note(given, "updated", at, {})
    assert updated is not None
    assert [f.kind for f in updated.fates][-2:] == ["skip", "trigger"]
    assert updated.fates[-2].reason.startswith("coalesced")
    paused = owed.note(given, "paused", at, {})
    assert paused is not None
    assert [f.reason for f in paused.fates][-2:] == [PAUSED_UNDECIDED] * 2


def test_a_run_owed_after_a_pause_by_an_older_checkpoint_is_skipped_when_appended() -> None:
    """A version before the one pause rule checkpointed a trigger (and a cancel_previous
    cancel) owed after a pause; appended now, the pause stops them as it stops a new one."""
    old = Owed(
        "paused", AT, 1, due().timing, b"",
        (OwedFate("cancel", T, "", "r0"), OwedFate("trigger", T), OwedFate("buffer", T, "", "r0")),
    )  # fmt: skip
    assert [d for _, d in owed.decisions(due(), [old], AT)] == [
        Skip(T, PAUSED_UNDECIDED, None),
        Skip(T, PAUSED_UNDECIDED, None),
    ]


def test_a_change_older_than_since_owes_nothing() -> None:
    """A replica refolding the log meets changes long past: the fates of the fires before
    them may have aged out with the retention, so they owe nothing."""
    assert owed.note(due(), "paused", AT, {}, since=AT + timedelta(seconds=1)) is None
    assert owed.note(due(), "paused", AT, {}, since=AT) is not None


DECIDE = [
    pytest.param(busy(), AT, [Skip(T, BUSY, "r0")], id="skip"),
    pytest.param(due(), AT, [Trigger(T)], id="trigger"),
    pytest.param(
        due(),
        T + timedelta(seconds=61),
        [Miss(T, "scheduler down: found more than 60 s late, the schedule updated")],
        id="trigger-found-late-is-missed",
    ),  # fmt: skip
    pytest.param(
        busy(overlap="cancel_previous"), AT, [Cancel("r0"), Trigger(T)], id="cancel-then-run"
    ),
    pytest.param(
        busy(overlap="cancel_previous"),
        T + timedelta(minutes=2),
        [Miss(T, "scheduler down: found more than 60 s late, the schedule updated")],
        id="late-cancels-nothing",
    ),
    pytest.param(busy(overlap="buffer_one"), AT, [Buffer(T, "r0")], id="buffer"),
    pytest.param(busy(), AT + owed.MAX_AGE + timedelta(seconds=1), [], id="stale"),
]


@pytest.mark.parametrize(("given", "now", "then"), DECIDE)
def test_decisions(given: Entry, now: Any, then: list[Decision]) -> None:
    record = owed.note(given, "updated", AT, {})
    assert record is not None
    given.version, given.payload = 2, b""  # the change moved these on
    decided = owed.decisions(given, [record], now)
    assert [d for _, d in decided] == then
    assert all(e.version == 1 and e.definition.job == Job(command=["true"]) for e, _ in decided)
    assert bool(owed.stale([record], now)) == (not then)


def _skipped(fire: Any) -> RunSkipped:
    return RunSkipped(schedule_id="s1", name="backup", fire_id="x", fire_time=fire, reason="r")


def _triggered(fire: Any, **kw: Any) -> RunTriggered:
    return RunTriggered(
        schedule_id="s1", name="backup", fire_id="x", fire_time=fire, run_id="r", version=1,
        target="default", job=Job(command=["true"]), **kw,
    )  # fmt: skip


def test_a_fate_of_its_fire_settles_it_and_nothing_else_does() -> None:
    record = owed.note(busy(overlap="cancel_previous"), "updated", AT, {})
    assert record is not None
    records: list[Owed] | None = [record]
    for other in (_triggered(T, manual=True), _skipped(minutes(-5))):
        # an operator's run of the slot is no fate of the fire; nor is another fire's skip
        assert records is not None
        records = owed.settle(records, other)
    assert records == [record]
    assert owed.settle(records, _triggered(T)) is None  # the fire's and its cancel's


def _stored(seq: int, event: Any) -> StoredEvent:
    return StoredEvent(seq, "jetcron.x", Envelope(id=str(seq), at=AT, actor="t", event=event))


def test_a_deleted_schedule_stays_while_it_owes_and_a_checkpoint_keeps_what_it_owes() -> None:
    state = TickerState()
    created = ScheduleCreated(
        schedule_id="s1", name="backup", version=1, definition=busy().definition
    )
    state.apply(_stored(1, created))
    given = state.entries["s1"]
    given.last_fire, given.floor = minutes(-5), minutes(-5)
    state.apply(_stored(2, ScheduleDeleted(schedule_id="s1", name="backup", version=2)))
    assert [f.kind for f in state.owed["s1"][0].fates] == ["skip"]
    assert state.retired["s1"] is given and state.holds(given)
    restored = state_from(snapshot_of(state))
    assert restored is not None and restored.owed == state.owed
    state.apply(_stored(3, _skipped(T)))
    assert state.owed == {} and "s1" not in state.retired
