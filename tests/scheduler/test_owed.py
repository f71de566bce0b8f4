"""Owed fates (scheduler/owed.py), pure: what a pause, update or delete leaves owed, what the
leader appends for it and when, and what settles it; no server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest
from test_planner import BUSY, IN_FLIGHT, T, entry, minutes

from jetcron.domain.definition import Job
from jetcron.domain.events import RunSkipped, RunTriggered
from jetcron.scheduler import owed
from jetcron.scheduler.checkpoint import snapshot_of, state_from
from jetcron.scheduler.entry import Entry, OwedFate
from jetcron.scheduler.firetimes import next_due
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
    pytest.param(due(), "paused", [OwedFate("trigger", T)], id="idle-runs"),
    pytest.param(due(), "updated", [OwedFate("trigger", T)], id="update-runs"),
    pytest.param(due(), "deleted", [OwedFate("skip", T, owed.DELETED)], id="delete-skips"),
    pytest.param(busy(), "deleted", [OwedFate("skip", T, BUSY, "r0")], id="delete-busy"),
    pytest.param(
        busy(overlap="cancel_previous"),
        "paused",
        [OwedFate("cancel", T, "", "r0"), OwedFate("trigger", T)],
        id="cancel-previous",
    ),
    pytest.param(busy(overlap="buffer_one"), "paused", [OwedFate("buffer", T)], id="buffer"),
    pytest.param(due(last_fire=T), "paused", None, id="decided-already"),
    pytest.param(due(active=False), "deleted", None, id="paused-before"),
    pytest.param(due(completed=True), "updated", None, id="completed"),
]


@pytest.mark.parametrize(("given", "change", "then"), NOTE)
def test_note(given: Entry, change: str, then: list[OwedFate] | None) -> None:
    owed.note(given, change, AT, {})
    found = [f for o in given.owed or () for f in o.fates] or None
    assert found == then
    if given.owed:
        assert next_due(given) == AT  # at once, paused or not


def test_a_change_older_than_since_owes_nothing() -> None:
    """A replica refolding the log meets changes long past: the fates of the fires before
    them may have aged out with the retention, so they owe nothing."""
    given = due()
    owed.note(given, "paused", AT, {}, since=AT + timedelta(seconds=1))
    assert given.owed is None
    owed.note(given, "paused", AT, {}, since=AT)
    assert given.owed is not None


DECIDE = [
    pytest.param(busy(), AT, [Skip(T, BUSY, "r0")], id="skip"),
    pytest.param(due(), AT, [Trigger(T)], id="trigger"),
    pytest.param(
        due(),
        T + timedelta(seconds=61),
        [Miss(T, "scheduler down: found more than 60 s late, the schedule paused")],
        id="trigger-found-late-is-missed",
    ),  # fmt: skip
    pytest.param(
        busy(overlap="cancel_previous"), AT, [Cancel("r0"), Trigger(T)], id="cancel-then-run"
    ),
    pytest.param(
        busy(overlap="cancel_previous"),
        T + timedelta(minutes=2),
        [Miss(T, "scheduler down: found more than 60 s late, the schedule paused")],
        id="late-cancels-nothing",
    ),
    pytest.param(busy(overlap="buffer_one"), AT, [Buffer(T)], id="buffer"),
    pytest.param(busy(), AT + owed.MAX_AGE + timedelta(seconds=1), [], id="stale"),
]


@pytest.mark.parametrize(("given", "now", "then"), DECIDE)
def test_decisions(given: Entry, now: Any, then: list[Decision]) -> None:
    owed.note(given, "paused", AT, {})
    given.version, given.payload = 2, b""  # the change moved these on
    decided = owed.decisions(given, now)
    assert [d for _, d in decided] == then
    assert all(e.version == 1 and e.definition.job == Job(command=["true"]) for e, _ in decided)
    assert bool(owed.stale(given, now)) == (not then)


def _skipped(fire: Any) -> RunSkipped:
    return RunSkipped(schedule_id="s1", name="backup", fire_id="x", fire_time=fire, reason="r")


def _triggered(fire: Any, **kw: Any) -> RunTriggered:
    return RunTriggered(
        schedule_id="s1", name="backup", fire_id="x", fire_time=fire, run_id="r", version=1,
        target="default", job=Job(command=["true"]), **kw,
    )  # fmt: skip


def test_a_fate_of_its_fire_settles_it_and_nothing_else_does() -> None:
    given = busy(overlap="cancel_previous")
    owed.note(given, "paused", AT, {})
    owed.settle(given, _triggered(T, manual=True))  # an operator's run: no fate of the fire
    owed.settle(given, _skipped(minutes(-5)))  # another fire
    assert given.owed is not None and len(given.owed[0].fates) == 2
    owed.settle(given, _triggered(T))
    assert given.owed is None and next_due(given) != AT


def test_an_owed_fate_survives_a_checkpoint() -> None:
    state = TickerState()
    given = busy()
    owed.note(given, "updated", AT, {})
    state.entries[given.schedule_id] = given
    restored = state_from(snapshot_of(state))
    assert restored is not None
    assert restored.entries["s1"].owed == given.owed
    assert msgspec.structs.asdict(restored.entries["s1"].owed[0])["change"] == "updated"
