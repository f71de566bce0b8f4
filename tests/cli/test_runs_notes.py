"""`runs list`'s note column: what a cut keeps (newcomer20a #12); pure rendering of the runs
answer (the answers themselves: tests/projections, against a real server)."""

from __future__ import annotations

from jetcron.cli import runs

REASON = (
    "coalesced: several fires were due at once; only the newest (2026-12-03T09:57:50Z) runs; "
    "decided 57 s after its fire: NATS unreachable from 2026-12-03T09:56:53.989132Z to "
    "2026-12-03T09:57:56.179304Z"
)


def row(reason: str, fire: str = "2026-12-03T09:57:00Z") -> dict[str, object]:
    return {"run_id": None, "schedule": "hello", "fire_time": fire, "status": "skipped",
            "reason": reason}  # fmt: skip


def test_a_coalesced_fires_note_names_the_fire_that_ran_first() -> None:
    note = runs.note(row(REASON))
    assert note.startswith("coalesced into 09:57:50; decided 57 s after its fire: NATS")
    assert len(note) <= 60  # why: first_line's width; the fire that ran survives the cut


def test_a_note_says_times_to_the_second() -> None:
    said = runs.note(row("missed: NATS unreachable from 2026-12-03T09:56:53.989132Z"))
    assert said == "missed: NATS unreachable from 2026-12-03T09:56:53Z"


def test_a_newest_fire_on_another_day_keeps_its_date() -> None:
    reason = (
        "coalesced: several fires were waiting for this executor; only the newest "
        "(2026-12-04T00:00:10Z) runs"
    )
    assert runs.note(row(reason, "2026-12-03T23:59:50Z")) == "coalesced into 2026-12-04T00:00:10Z"


def test_other_notes_are_as_they_were() -> None:
    assert runs.note(row("overlap: previous run still in flight")) == (
        "overlap: previous run still in flight"
    )
