"""Fates of nominal fires: given lifecycle + ledger (+ the spec) -> one fate per fire (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jetcron.domain.events import ScheduleStatus, status_after_update
from jetcron.projections.audit import AuditEntry
from jetcron.projections.fates import fates
from jetcron.projections.ledger import LedgerEntry
from jetcron.projections.lifecycle import lifecycle, nominal, period_at, resumed_after


def at(text: str) -> datetime:
    """An aware UTC instant from `2026-03-29T01:00Z`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def change(seq: int, when: str, kind: str, **diff: Any) -> AuditEntry:
    """An audit entry of schedule `job` (diff values as [old, new] of the given new value)."""
    return AuditEntry(
        seq=seq,
        at=at(when),
        actor="alice",
        type=f"schedule.{kind}",
        name="job",
        schedule_id="s1",
        version=seq,
        diff={k: [None, v] for k, v in diff.items()},
    )


def entry(seq: int, fire: str, outcome: str, recorded: str | None = None, **kw: Any) -> LedgerEntry:
    """A ledger entry for the fire at `fire`, recorded 1s later unless told."""
    fire_time = at(fire)
    return LedgerEntry(
        fire_id=f"f{seq}",
        schedule="job",
        schedule_id="s1",
        fire_time=fire_time,
        outcome=outcome,  # type: ignore[arg-type]
        recorded_at=at(recorded) if recorded else fire_time + timedelta(seconds=1),
        seq=seq,
        actor="system:ticker",
        **kw,
    )


@dataclass
class Case:
    id: str
    lifecycle: list[AuditEntry]
    ledger: list[LedgerEntry]
    since: str
    until: str
    now: str
    expected: list[str]
    """`<fire time> <fate>[ <status>]` per fire, oldest first."""
    quiet: dict[str, str] = field(default_factory=dict)
    kept_from: str | None = None
    """The horizon of the views (retention, --keep-runs): earlier fires with no entry."""


CREATED_10M = change(1, "2026-01-01T00:00Z", "created", spec="*/10 * * * *")
CASES = [
    Case(
        "every-recorded-fate",
        [CREATED_10M],
        [
            entry(2, "2026-01-01T00:10Z", "triggered", run_id="r1", status="succeeded", attempt=1),
            entry(3, "2026-01-01T00:20Z", "triggered", run_id="r2", status="failed", attempt=3),
            entry(4, "2026-01-01T00:30Z", "skipped", reason="overlap", blocking_run_id="r2"),
            entry(5, "2026-01-01T00:40Z", "buffered", blocking_run_id="r2"),
            entry(6, "2026-01-01T00:50Z", "triggered", run_id="r3", status="lost"),
            entry(7, "2026-01-01T01:00Z", "triggered", run_id="r4", status="cancelled"),
            entry(8, "2026-01-01T01:10Z", "triggered", run_id="r5", status="deferred"),
            entry(9, "2026-01-01T01:20Z", "triggered", run_id="r6", status="running"),
        ],
        "2026-01-01T00:00Z",
        "2026-01-01T02:00Z",
        "2026-01-01T01:51Z",
        [
            "2026-01-01T00:10Z triggered succeeded",
            "2026-01-01T00:20Z triggered failed",
            "2026-01-01T00:30Z skipped",
            "2026-01-01T00:40Z buffered",
            "2026-01-01T00:50Z lost lost",
            "2026-01-01T01:00Z cancelled cancelled",
            "2026-01-01T01:10Z deferred deferred",
            "2026-01-01T01:20Z triggered running",
            "2026-01-01T01:30Z unrecorded",
            "2026-01-01T01:40Z unrecorded",
            "2026-01-01T01:50Z pending",
            "2026-01-01T02:00Z upcoming",
        ],
    ),
    Case(
        "pause-and-before-creation",
        [
            change(1, "2026-01-01T00:25Z", "created", spec="*/10 * * * *"),
            change(2, "2026-01-01T00:45Z", "paused"),
            change(3, "2026-01-01T01:05Z", "resumed"),
        ],
        [
            entry(4, "2026-01-01T00:30Z", "triggered", run_id="r1", status="succeeded"),
            entry(5, "2026-01-01T00:40Z", "triggered", run_id="r2", status="succeeded"),
            entry(6, "2026-01-01T01:10Z", "triggered", run_id="r3", status="succeeded"),
        ],
        "2026-01-01T00:00Z",
        "2026-01-01T01:10Z",
        "2026-01-01T02:00Z",
        [
            "2026-01-01T00:10Z not_created",
            "2026-01-01T00:20Z not_created",
            "2026-01-01T00:30Z triggered succeeded",
            "2026-01-01T00:40Z triggered succeeded",
            "2026-01-01T00:50Z paused",
            "2026-01-01T01:00Z paused",
            "2026-01-01T01:10Z triggered succeeded",
        ],
    ),
    Case(
        "update-while-paused-stays-paused",
        [
            CREATED_10M,
            change(2, "2026-01-01T00:15Z", "paused"),
            change(3, "2026-01-01T00:35Z", "updated", description="edited"),
            change(4, "2026-01-01T00:55Z", "resumed"),
        ],
        [
            entry(5, "2026-01-01T00:10Z", "triggered", run_id="r1", status="succeeded"),
            entry(6, "2026-01-01T01:00Z", "triggered", run_id="r2", status="succeeded"),
        ],
        "2026-01-01T00:00Z",
        "2026-01-01T01:00Z",
        "2026-01-01T02:00Z",
        [
            "2026-01-01T00:10Z triggered succeeded",
            "2026-01-01T00:20Z paused",
            "2026-01-01T00:30Z paused",
            "2026-01-01T00:40Z paused",  # why: the update did not resume it
            "2026-01-01T00:50Z paused",
            "2026-01-01T01:00Z triggered succeeded",
        ],
    ),
    Case(
        "update-while-paused-is-pending-nowhere",
        [
            CREATED_10M,
            change(2, "2026-01-01T00:15Z", "paused"),
            change(3, "2026-01-01T00:35Z", "updated", description="edited"),
        ],
        [],
        "2026-01-01T00:25Z",
        "2026-01-01T00:50Z",
        "2026-01-01T00:50:30Z",
        ["2026-01-01T00:30Z paused", "2026-01-01T00:40Z paused", "2026-01-01T00:50Z paused"],
    ),
    Case(
        "spec-update-while-paused-pauses-the-new-fires",
        [
            CREATED_10M,
            change(2, "2026-01-01T00:15Z", "paused"),
            change(3, "2026-01-01T00:35Z", "updated", spec="*/20 * * * *"),
            change(4, "2026-01-01T01:05Z", "resumed"),
        ],
        [entry(5, "2026-01-01T01:20Z", "triggered", run_id="r1", status="succeeded")],
        "2026-01-01T00:15Z",
        "2026-01-01T01:20Z",
        "2026-01-01T02:00Z",
        [
            "2026-01-01T00:20Z paused",
            "2026-01-01T00:30Z paused",
            "2026-01-01T00:40Z paused",
            "2026-01-01T01:00Z paused",
            "2026-01-01T01:20Z triggered succeeded",
        ],
    ),
    Case(
        "update-of-an-active-schedule-stays-active",
        [CREATED_10M, change(2, "2026-01-01T00:15Z", "updated", description="edited")],
        [entry(3, "2026-01-01T00:10Z", "triggered", run_id="r1", status="succeeded")],
        "2026-01-01T00:00Z",
        "2026-01-01T00:20Z",
        "2026-01-01T02:00Z",
        ["2026-01-01T00:10Z triggered succeeded", "2026-01-01T00:20Z unrecorded"],
    ),
    Case(
        "update-of-a-completed-schedule-reopens-it",
        [
            CREATED_10M,
            change(2, "2026-01-01T00:15Z", "completed"),
            change(3, "2026-01-01T00:35Z", "updated", spec="*/10 * * * *"),
        ],
        [entry(4, "2026-01-01T00:40Z", "triggered", run_id="r1", status="succeeded")],
        "2026-01-01T00:00Z",
        "2026-01-01T00:50Z",
        "2026-01-01T00:51Z",
        [
            "2026-01-01T00:10Z unrecorded",
            "2026-01-01T00:40Z triggered succeeded",
            "2026-01-01T00:50Z pending",
        ],
    ),
    Case(
        "missed-then-caught-up",
        [CREATED_10M],
        [
            entry(2, "2026-01-01T00:10Z", "triggered", run_id="r1", status="succeeded"),
            entry(3, "2026-01-01T00:20Z", "missed", "2026-01-01T00:44:40Z", reason="down"),
            entry(4, "2026-01-01T00:30Z", "missed", "2026-01-01T00:44:40Z", reason="down"),
            entry(5, "2026-01-01T00:40Z", "triggered", "2026-01-01T00:44:41Z", status="succeeded"),
            entry(6, "2026-01-01T00:50Z", "triggered", run_id="r3", status="succeeded"),
        ],
        "2026-01-01T00:00Z",
        "2026-01-01T00:50Z",
        "2026-01-01T01:00Z",
        [
            "2026-01-01T00:10Z triggered succeeded",
            "2026-01-01T00:20Z missed",
            "2026-01-01T00:30Z missed",
            "2026-01-01T00:40Z triggered succeeded",
            "2026-01-01T00:50Z triggered succeeded",
        ],
    ),
    Case(
        "jittered-fire-not-yet-triggered-is-pending",
        [change(1, "2026-01-01T00:00Z", "created", spec="*/10 * * * *", jitter_s=300.0)],
        [],
        "2026-01-01T00:05Z",
        "2026-01-01T00:10Z",
        "2026-01-01T00:14Z",
        ["2026-01-01T00:10Z pending"],
    ),
    Case(
        "spring-gap",
        [change(1, "2026-03-20T00:00Z", "created", spec="0 2 * * *", tz="Europe/Berlin")],
        [
            entry(2, "2026-03-28T01:00Z", "triggered", status="succeeded"),
            entry(3, "2026-03-29T01:00Z", "triggered", status="succeeded"),
        ],
        "2026-03-27T12:00Z",
        "2026-03-30T12:00Z",
        "2026-03-30T12:00Z",
        [
            "2026-03-28T01:00Z triggered succeeded",
            "2026-03-29T01:00Z triggered succeeded",  # why: 02:00 is skipped; fires at 03:00 CEST
            "2026-03-30T00:00Z unrecorded",
        ],
    ),
    Case(
        "autumn-overlap",
        [change(1, "2026-10-20T00:00Z", "created", spec="30 2 * * *", tz="Europe/Berlin")],
        [entry(2, "2026-10-25T00:30Z", "triggered", status="succeeded")],
        "2026-10-24T12:00Z",
        "2026-10-26T12:00Z",
        "2026-10-26T12:00Z",
        [
            "2026-10-25T00:30Z triggered succeeded",  # why: first pass (CEST) only, not 01:30Z
            "2026-10-26T01:30Z unrecorded",
        ],
    ),
    Case(
        "the-lifecycle-wins-over-the-kept-horizon",  # why: only a fire that existed is forgotten
        [
            change(1, "2026-01-01T00:25Z", "created", spec="*/10 * * * *"),
            change(2, "2026-01-01T00:45Z", "paused"),
            change(3, "2026-01-01T01:05Z", "resumed"),
        ],
        [entry(4, "2026-01-01T01:20Z", "triggered", run_id="r3", status="succeeded")],
        "2026-01-01T00:00Z",
        "2026-01-01T01:20Z",
        "2026-01-01T02:00Z",
        [
            "2026-01-01T00:10Z not_created",
            "2026-01-01T00:20Z not_created",
            "2026-01-01T00:30Z forgotten",
            "2026-01-01T00:40Z forgotten",
            "2026-01-01T00:50Z paused",
            "2026-01-01T01:00Z paused",
            "2026-01-01T01:10Z forgotten",
            "2026-01-01T01:20Z triggered succeeded",
        ],
        kept_from="2026-01-01T01:15Z",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fates(case: Case) -> None:
    periods = lifecycle(case.lifecycle)
    times = nominal(periods, at(case.since), at(case.until), limit=1000)

    kept = at(case.kept_from) if case.kept_from else None
    got = fates(times, case.ledger, periods, now=at(case.now), kept_from=kept)

    shown = [
        f"{f.fire_time:%Y-%m-%dT%H:%MZ} {f.fate}" + (f" {f.status}" if f.status else "")
        for f in got
    ]
    assert shown == case.expected


def test_a_miss_names_the_fire_caught_up_instead_and_the_quiet_stretch() -> None:
    case = next(c for c in CASES if c.id == "missed-then-caught-up")
    periods = lifecycle(case.lifecycle)
    quiet = {at("2026-01-01T00:20Z"): at("2026-01-01T00:10:01Z")}

    got = fates([], case.ledger, periods, now=at(case.now), quiet_since=quiet)

    missed = [f for f in got if f.fate == "missed"]
    assert [f.instead for f in missed] == [at("2026-01-01T00:40Z")] * 2
    assert missed[0].quiet_since == at("2026-01-01T00:10:01Z")
    assert missed[0].catchup == "latest"


def test_a_spec_change_changes_the_nominal_fires_from_then_on() -> None:
    periods = lifecycle(
        [CREATED_10M, change(2, "2026-01-01T00:35Z", "updated", spec="*/30 * * * *")]
    )

    times = nominal(periods, at("2026-01-01T00:00Z"), at("2026-01-01T01:30Z"), limit=100)

    assert [f"{t:%H:%M}" for t in times] == ["00:10", "00:20", "00:30", "01:00", "01:30"]


@pytest.mark.parametrize(
    ("found", "left"),
    [
        ("active", "active"),
        ("paused", "paused"),
        ("completed", "active"),
        ("deleted", "deleted"),
        ("absent", "absent"),
    ],
)
def test_an_update_keeps_the_state_it_found_but_reopens_a_completed_one(
    found: ScheduleStatus, left: ScheduleStatus
) -> None:
    assert status_after_update(found) == left


def test_a_pause_told_across_an_update_ends_at_the_resume() -> None:
    paused = change(2, "2026-01-01T00:15Z", "paused")
    paused.reason = "p1"
    resumed = change(4, "2026-01-01T00:55Z", "resumed")
    edit = change(3, "2026-01-01T00:35Z", "updated", description="edited")
    edit.reason = "e1"
    periods = lifecycle([CREATED_10M, paused, edit, resumed])

    during = period_at(periods, at("2026-01-01T00:40Z"))
    fire = fates([at("2026-01-01T00:40Z")], [], periods, now=at("2026-01-01T02:00Z"))[0]

    assert during is not None and during.evidence is not None
    assert (during.state, during.reason, during.evidence.seq) == ("paused", "p1", 2)
    assert (fire.fate, fire.reason, [e.seq for e in fire.evidence]) == ("paused", "p1", [2])
    for before_and_after_the_update in ("2026-01-01T00:20Z", "2026-01-01T00:40Z"):
        back = resumed_after(periods, at(before_and_after_the_update))
        assert back is not None and (back.what, back.seq) == ("schedule.resumed", 4)
