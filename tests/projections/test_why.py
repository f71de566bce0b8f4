"""`why`: given a lifecycle, ledger and asked time -> the sentences told (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import msgspec
import pytest
from test_fates import at, change, entry

from jetcron.projections.asked import parse_asked
from jetcron.projections.audit import AuditEntry
from jetcron.projections.fates import fates
from jetcron.projections.ledger import LedgerEntry
from jetcron.projections.lifecycle import lifecycle, nominal
from jetcron.projections.why import explain


@dataclass
class Case:
    id: str
    lifecycle: list[AuditEntry]
    ledger: list[LedgerEntry]
    now: str
    asked: str | None
    expected: list[str]
    """Each sentence, with ` [seq N]` when an event backs it."""
    quiet: dict[str, str] = field(default_factory=dict)


def hello(seq: int, when: str, kind: str, **diff: object) -> AuditEntry:
    """An audit entry of `hello` by bob."""
    base = change(seq, when, kind, **diff)
    return msgspec.structs.replace(base, name="hello", actor="bob")


HELLO_DELETED = [
    hello(1, "2026-12-02T14:11:01Z", "created", spec="@every 10s"),
    msgspec.structs.replace(hello(9, "2026-12-02T14:12:03Z", "deleted"), reason="done with it"),
]
HELLO_RUNS = [
    entry(i + 2, f"2026-12-02T14:11:{10 * (i + 1)}Z", "triggered", run_id=f"r{i}hhhhhhhh",
          status="succeeded")
    for i in range(5)
] + [entry(7, "2026-12-02T14:12:00Z", "triggered", run_id="r6hhhhhhhh", status="succeeded")]  # fmt: skip
BERLIN_3AM = change(1, "2026-03-01T00:00:00Z", "created", spec="0 3 * * *", tz="Europe/Berlin")
BERLIN_230 = change(1, "2026-03-01T00:00:00Z", "created", spec="30 2 * * *", tz="Europe/Berlin")
EVERY_10M = change(1, "2026-01-01T00:00:00Z", "created", spec="*/10 * * * *")
CASES = [
    Case(
        "missed-then-caught-up",
        [EVERY_10M],
        [
            entry(2, "2026-01-01T00:10:00Z", "triggered", run_id="r1aaaaaaaa", status="succeeded"),
            entry(3, "2026-01-01T00:20:00Z", "missed", "2026-01-01T00:44:40Z", reason="down"),
            entry(4, "2026-01-01T00:30:00Z", "missed", "2026-01-01T00:44:40Z", reason="down"),
            entry(
                5,
                "2026-01-01T00:40:00Z",
                "triggered",
                "2026-01-01T00:44:41Z",
                run_id="r2bbbbbbbb",
                status="succeeded",
                attempt=1,
                executor="host1",
            ),
        ],
        "2026-01-01T00:45:00Z",
        None,
        [
            "2026-01-01T00:30:00Z: missed",
            "No scheduler ticked from 2026-01-01T00:10:01Z to 2026-01-01T00:44:40Z, when the "
            "ticker recorded it: down [seq 4]",
            "Catch-up `latest` ran the 2026-01-01T00:40:00Z fire instead",
        ],
        quiet={"2026-01-01T00:30:00Z": "2026-01-01T00:10:01Z"},
    ),
    Case(
        "missed-while-the-log-was-full",
        [EVERY_10M],
        [
            entry(2, "2026-01-01T00:10:00Z", "triggered", run_id="r1aaaaaaaa", status="succeeded"),
            entry(
                3, "2026-01-01T00:20:00Z", "missed", "2026-01-01T00:31:40Z", reason="log full: x"
            ),
        ],
        "2026-01-01T00:45:00Z",
        "2026-01-01T00:20:00Z",
        [
            "2026-01-01T00:20:00Z: missed",
            "The log was full (JetStream refused appends) from 2026-01-01T00:10:01Z to "
            "2026-01-01T00:31:40Z, when the ticker recorded it: log full: x [seq 3]",
        ],
        quiet={"2026-01-01T00:20:00Z": "2026-01-01T00:10:01Z"},
    ),
    Case(
        "missed-while-the-log-was-full-told-once",  # newcomer21c #2: one outage, one start
        [EVERY_10M],
        [
            entry(2, "2026-01-01T00:10:00Z", "triggered", run_id="r1aaaaaaaa", status="succeeded"),
            entry(
                3,
                "2026-01-01T00:20:00Z",
                "missed",
                "2026-01-01T00:31:40Z",
                reason="log full from 2026-01-01T00:19:02Z to 2026-01-01T00:31:39Z: x",
            ),
        ],
        "2026-01-01T00:45:00Z",
        "2026-01-01T00:20:00Z",
        [
            "2026-01-01T00:20:00Z: missed",
            "The log was full (JetStream refused appends); the ticker recorded it at "
            "2026-01-01T00:31:40Z: log full from 2026-01-01T00:19:02Z to 2026-01-01T00:31:39Z: "
            "x [seq 3]",
        ],
        quiet={"2026-01-01T00:20:00Z": "2026-01-01T00:10:01Z"},
    ),
    Case(
        "caught-up-fire",
        [EVERY_10M],
        [
            entry(
                5,
                "2026-01-01T00:40:00Z",
                "triggered",
                "2026-01-01T00:44:41Z",
                run_id="r2bbbbbbbb",
                status="failed",
                attempt=2,
                executor="host1",
                detail="exit code 3",
                result_seq=9,
                result_at=at("2026-01-01T00:46:00Z"),
                result_actor="executor:host1",
            ),
        ],
        "2026-01-01T00:50:00Z",
        "2026-01-01T00:40:00Z",
        [
            "2026-01-01T00:40:00Z: triggered → failed",
            "Triggered as run r2bbbbbb at 2026-01-01T00:44:41Z, 4m41s late: no scheduler decided "
            "it in time, and catch-up `latest` ran it [seq 5]",
            "Run r2bbbbbb failed on host1 after 2 attempts: exit code 3 [seq 9]",
        ],
    ),
    Case(
        "paused",
        [
            EVERY_10M,
            change(2, "2026-01-01T00:15:00Z", "paused"),
            change(3, "2026-01-01T00:35:00Z", "resumed"),
        ],
        [],
        "2026-01-01T01:00:00Z",
        "2026-01-01T00:20:00Z",
        [
            "2026-01-01T00:20:00Z: paused",
            "Not fired: the schedule was paused by alice at 2026-01-01T00:15:00Z [seq 2]",
            "It was resumed by alice at 2026-01-01T00:35:00Z; fires in between are not run [seq 3]",
        ],
    ),
    Case(
        "spring-gap-fire",
        [BERLIN_230],
        [entry(2, "2026-03-29T01:00:00Z", "triggered", run_id="r3cccccccc", status="succeeded")],
        "2026-03-30T12:00:00Z",
        "2026-03-29T02:30",
        [
            "02:30 does not exist on 2026-03-29 in Europe/Berlin (the clocks jump forward); per "
            "the gap rule it means 03:00 CEST",
            "2026-03-29T01:00:00Z (03:00 CEST Europe/Berlin): triggered → succeeded",
            "02:30 does not exist on 2026-03-29 in Europe/Berlin; per the gap rule it fires at "
            "03:00 CEST",
            "Triggered as run r3cccccc at 2026-03-29T01:00:01Z [seq 2]",
            "Run r3cccccc succeeded after 1 attempt",
        ],
    ),
    Case(
        "autumn-fold-second-pass",
        [BERLIN_230],
        [entry(2, "2026-10-25T00:30:00Z", "triggered", run_id="r4dddddddd", status="succeeded")],
        "2026-10-26T12:00:00Z",
        "2026-10-25T01:30:00Z",
        [
            "02:30 CET on 2026-10-25 is not a fire time of '30 2 * * *' in Europe/Berlin; the "
            "nearest are 2026-10-25T00:30:00Z (02:30 CEST Europe/Berlin) and 2026-10-26T01:30:00Z "
            "(02:30 CET Europe/Berlin)",
        ],
    ),
    Case(
        "not-a-fire-time",
        [BERLIN_3AM],
        [],
        "2026-03-20T12:00:00Z",
        "2026-03-10T03:30",
        [
            "03:30 CET on 2026-03-10 is not a fire time of '0 3 * * *' in Europe/Berlin; the "
            "nearest are 2026-03-10T02:00:00Z (03:00 CET Europe/Berlin) and 2026-03-11T02:00:00Z "
            "(03:00 CET Europe/Berlin)",
        ],
    ),
    Case(
        "unrecorded",
        [EVERY_10M],
        [entry(2, "2026-01-01T00:10:00Z", "triggered", run_id="r1aaaaaaaa", status="succeeded")],
        "2026-01-01T00:25:00Z",
        None,
        [
            "2026-01-01T00:20:00Z: unrecorded",
            "Nothing was recorded for this fire although the schedule was active: the ticker "
            "owes the log an event for every fire, so this is a jetcron bug; please report it "
            "[seq 1]",
        ],
    ),
    Case(
        "buffered-on-time-then-late-for-waiting",
        [EVERY_10M],
        [
            entry(
                2,
                "2026-01-01T00:10:00Z",
                "triggered",
                "2026-01-01T00:14:00Z",
                run_id="r2bbbbbbbb",
                status="succeeded",
                buffered_at=at("2026-01-01T00:10:01Z"),
                blocking_run_id="r1aaaaaaaa",
            ),
        ],  # fmt: skip
        "2026-01-01T00:15:00Z",
        "2026-01-01T00:10:00Z",
        [
            "2026-01-01T00:10:00Z: triggered → succeeded",
            "Buffered at 2026-01-01T00:10:01Z behind run r1aaaaaa",
            "Triggered as run r2bbbbbb at 2026-01-01T00:14:00Z, 4m late: it waited for the run "
            "before it [seq 2]",
            "Run r2bbbbbb succeeded after 1 attempt",
        ],
    ),
    Case(
        "queued-by-catch-up-all-after-downtime",
        [
            change(
                1, "2026-01-01T00:00:00Z", "created", spec="*/10 * * * *", catchup={"policy": "all"}
            )
        ],
        [
            entry(
                2,
                "2026-01-01T00:10:00Z",
                "triggered",
                "2026-01-01T00:14:00Z",
                run_id="r2bbbbbbbb",
                status="succeeded",
                buffered_at=at("2026-01-01T00:13:30Z"),
                blocking_run_id="r1aaaaaaaa",
            ),
        ],  # fmt: skip
        "2026-01-01T00:15:00Z",
        "2026-01-01T00:10:00Z",
        [
            "2026-01-01T00:10:00Z: triggered → succeeded",
            "Buffered at 2026-01-01T00:13:30Z behind run r1aaaaaa",
            "Triggered as run r2bbbbbb at 2026-01-01T00:14:00Z, 4m late: no scheduler decided it in "
            "time, and catch-up `all` ran it [seq 2]",
            "Run r2bbbbbb succeeded after 1 attempt",
        ],
    ),
    # -- a schedule that did not exist at the time asked (newcomer14: `hello`, @every 10s) ------
    Case(
        "deleted-then-asked-about-a-time-after",
        HELLO_DELETED,
        HELLO_RUNS,
        "2026-12-02T14:20:00Z",
        "2026-12-02T14:12:30Z",
        [
            "2026-12-02T14:12:30Z: no fire",
            "The schedule was deleted by bob at 2026-12-02T14:12:03Z (done with it): it fires "
            "no more [seq 9]",
        ],
    ),
    Case(
        "deleted-then-asked-without-a-time",
        HELLO_DELETED,
        HELLO_RUNS,
        "2026-12-02T14:20:00Z",
        None,
        [
            "The schedule was deleted by bob at 2026-12-02T14:12:03Z (done with it): it fires "
            "no more [seq 9]",
            "Name a time before it to hear about one of its fires",
        ],
    ),
    Case(
        "deleted-and-created-again-asked-about-the-gap",
        [*HELLO_DELETED, hello(10, "2026-12-02T14:15:00Z", "created", spec="@every 10s")],
        HELLO_RUNS,
        "2026-12-02T14:20:00Z",
        "2026-12-02T14:13:00Z",
        [
            "2026-12-02T14:13:00Z: no fire",
            "The schedule was deleted by bob at 2026-12-02T14:12:03Z (done with it): it fires "
            "no more [seq 9]",
            "A new schedule of that name was created by bob at 2026-12-02T14:15:00Z [seq 10]",
        ],
    ),
    # newcomer18a #4: the time is no fire time of the first definition either: that comes
    # first (a mistyped time is the likelier mistake; the CLI exits 2), then the creation
    Case(
        "before-its-creation-no-fire-of-its-spec",
        HELLO_DELETED,
        HELLO_RUNS,
        "2026-12-02T14:20:00Z",
        "2026-12-02T14:10:55Z",
        [
            "14:10:55 UTC on 2026-12-02 is not a fire time of '@every 10s' in UTC; the nearest "
            "are 2026-12-02T14:10:50Z and 2026-12-02T14:11:00Z",
            "the schedule did not exist yet: it was created only at 2026-12-02T14:11:01Z by "
            "bob [seq 1]",
        ],
    ),
    Case(
        "before-its-creation-a-fire-of-its-spec",
        [EVERY_10M],
        [],
        "2026-01-01T00:05:00Z",
        "2025-12-31T23:50:00Z",
        [
            "2025-12-31T23:50:00Z: not created",
            "Not fired: the schedule was created only at 2026-01-01T00:00:00Z by alice [seq 1]",
        ],
    ),
    # newcomer18a #11: paused before its first fire, `why NAME` said only "no fire"
    Case(
        "paused-before-its-first-fire",
        [
            change(1, "2026-01-01T00:00:00Z", "created", spec="0 9 * * *", tz="Asia/Tokyo"),
            msgspec.structs.replace(
                change(2, "2026-01-01T00:01:00Z", "paused"), reason="tokyo office closed"
            ),
        ],
        [],
        "2026-01-01T00:02:00Z",
        None,
        [
            "No fire of the schedule's clock since 2026-01-01T00:00:00Z",
            "It is paused by alice at 2026-01-01T00:01:00Z (tokyo office closed): it fires no "
            "more until resumed [seq 2]",
        ],
    ),
    Case(
        "without-a-time-no-fire-from-before-the-creation-is-picked",
        HELLO_DELETED[:1],
        HELLO_RUNS,
        "2026-12-02T14:12:25Z",
        None,
        ["Every fire since 2026-12-02T14:11:01Z succeeded or is still running (6 fires)"],
    ),
    # newcomer20c #11: "(1 fires)"
    Case(
        "one-fire-is-one-fire",
        HELLO_DELETED[:1],
        HELLO_RUNS[:1],
        "2026-12-02T14:11:15Z",
        None,
        ["Every fire since 2026-12-02T14:11:01Z succeeded or is still running (1 fire)"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_why(case: Case) -> None:
    now = at(case.now)
    periods = lifecycle(case.lifecycle)
    tz = periods[-1].window.tz if periods[-1].window else "UTC"
    asked = parse_asked(case.asked, tz, now) if case.asked else None
    centre = asked.instant if asked else now
    since, until = centre - timedelta(days=2), min(centre + timedelta(days=2), now)
    quiet = {at(k): at(v) for k, v in case.quiet.items()}
    told = fates(
        nominal(periods, since, until, 1000), case.ledger, periods, now=now, quiet_since=quiet
    )

    story = explain(told, periods, asked=asked, since=since)

    shown = [s.text + (f" [seq {s.evidence.seq}]" if s.evidence else "") for s in story.sentences]
    assert shown == case.expected


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        pytest.param("2026-03-29T01:00:00Z", "2026-03-29T01:00:00Z", id="utc"),
        pytest.param("2026-03-29T03:00+02:00", "2026-03-29T01:00:00Z", id="offset"),
        pytest.param("2026-03-29T02:30", "2026-03-29T01:00:00Z", id="spring-gap-wall"),
        pytest.param("2026-10-25T02:30", "2026-10-25T00:30:00Z", id="autumn-fold-first-pass"),
        pytest.param("03:00", "2026-03-29T01:00:00Z", id="clock-today"),
        pytest.param("05:00", "2026-03-28T04:00:00Z", id="clock-later-than-now-is-yesterday"),
    ],
)
def test_asked_times(text: str, instant: str) -> None:
    now = at("2026-03-29T02:00:00Z")  # 04:00 CEST

    assert parse_asked(text, "Europe/Berlin", now).instant == at(instant)


def test_a_creation_in_the_second_of_a_fire_is_shown_to_the_hundredth() -> None:
    """newcomer16a #12: `not_created  created only at 17:33:20Z` for the 17:33:20 fire read as
    a contradiction (the creation was at 17:33:20.4)."""
    from jetcron.projections.fire_story import just_after

    fire = at("2026-12-02T17:33:20Z")
    assert just_after(fire + timedelta(milliseconds=412), fire) == (
        "2026-12-02T17:33:20.41Z, just after this fire time"
    )
    assert just_after(fire + timedelta(seconds=1), fire) == "2026-12-02T17:33:21Z"
