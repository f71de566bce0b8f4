"""Fire ledger: every nominal fire, its outcome, and the status of its run."""

from __future__ import annotations

from datetime import timedelta

from projection_factory import T0, History, fold

from jetcron.domain.events import FireBuffered
from jetcron.projections import ledger

F1, F2, F3, F4 = (T0 + timedelta(minutes=5 * i) for i in range(1, 5))


def test_every_fire_and_what_became_of_it() -> None:
    h = History()
    h.create("backup")
    h.missed("backup", F1, reason="scheduler down")
    h.skipped("backup", F2, reason="previous run still going")
    ok = h.trigger("backup", F3)
    h.started(ok)
    h.failed(ok, retry_in=timedelta(seconds=5))
    retrying = fold(h.events).ledger
    h.started(ok, attempt=2)
    h.succeeded(ok, attempt=2)
    failing = h.trigger("backup", F4)
    h.failed(failing)
    view = fold(h.events).ledger

    got = [(e.fire_time, e.outcome, e.status, e.reason) for e in ledger.query(view, "backup")]

    assert got == [
        (F4, "triggered", "failed", ""),
        (F3, "triggered", "succeeded", ""),
        (F2, "skipped", "", "previous run still going"),
        (F1, "missed", "", "scheduler down"),
    ]
    assert [e.status for e in ledger.query(retrying)][0] == "retrying"
    assert [e.detail for e in ledger.query(retrying)][0] == "boom"
    # a success on a retry is not told with the failed attempt's error (nc21b #1)
    assert [e.detail for e in ledger.query(view)][:2] == ["boom", ""]
    assert ledger.query(view)[1].run_id == ok


def test_manual_runs_are_not_fires() -> None:
    h = History()
    h.create("backup")
    run = h.trigger("backup", F1, manual=True)
    h.succeeded(run)

    assert fold(h.events).ledger.entries == {}


def test_query_since_and_limit() -> None:
    h = History()
    h.create("a")
    h.create("b")
    for fire in (F1, F2, F3):
        h.trigger("a", fire)
    h.missed("b", F4)
    view = fold(h.events).ledger

    assert [e.fire_time for e in ledger.query(view, "a", since=F2)] == [F3, F2]
    assert [e.fire_time for e in ledger.query(view, limit=2)] == [F4, F3]
    assert [e.schedule for e in ledger.query(view, "b")] == ["b"]


def test_a_run_overrides_an_earlier_missed_record_but_not_the_reverse() -> None:
    h = History()
    h.create("backup")
    h.missed("backup", F1)
    run = h.trigger("backup", F1)
    h.skipped("backup", F1)

    entry = fold(h.events).ledger.entries[h.triggers[run].fire_id]

    assert (entry.outcome, entry.run_id, entry.status) == ("triggered", run, "triggered")
    assert len(fold(h.events).ledger.by_schedule["backup"]) == 1


def test_a_fire_tells_its_run_s_progress_and_the_events_behind_it() -> None:
    h = History()
    h.create("backup")
    base = h._fire("backup", F1, False)
    buffered = h.add(FireBuffered(**base, blocking_run_id="r0"), actor="system:ticker")
    run = h.trigger("backup", F1)
    h.deferred(run, reason="cpu 97%")
    deferred = fold(h.events).ledger.entries[base["fire_id"]]
    h.started(run, executor="host-b")
    h.lost(run, reason="host-b went silent")

    entry = fold(h.events).ledger.entries[base["fire_id"]]

    assert (deferred.status, deferred.detail, deferred.executor) == (
        "deferred",
        "cpu 97%",
        "host-a",
    )
    assert (entry.outcome, entry.status, entry.detail) == (
        "triggered",
        "lost",
        "host-b went silent",
    )
    assert (entry.executor, entry.attempt, entry.result_seq) == ("host-b", 1, len(h.events))
    assert (entry.buffered_at, entry.blocking_run_id) == (buffered.envelope.at, "r0")
    assert (entry.seq, entry.actor) == (buffered.seq + 1, "jetcron")


def test_the_last_record_of_any_schedule_before_a_time_starts_an_outage() -> None:
    h = History()
    h.create("a")
    h.create("b")
    h.trigger("a", F1)
    last = h.trigger("b", F1)
    h.tick(timedelta(minutes=10))
    h.missed("a", F2)
    view = fold(h.events).ledger
    outage_from = view.entries[h.triggers[last].fire_id].recorded_at

    got = ledger.last_recorded_before(view, [h.now, T0])

    assert got == {h.now: outage_from}
