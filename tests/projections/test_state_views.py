"""The views container: redelivery, poison events, snapshot/restore and as-of replay."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import msgspec
import pytest
from projection_factory import T0, History, fold

from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import RunStarted
from jetcron.projections import snapshot, state


def busy_history() -> History:
    """Two schedules with a few runs in different states."""
    h = History()
    h.create("a")
    h.create("b", "@every 1h")
    ok = h.trigger("a", T0)
    h.started(ok)
    h.succeeded(ok)
    h.pause("b", "maintenance")
    h.failed(h.trigger("a", T0 + timedelta(minutes=5)), retry_in=timedelta(seconds=10))
    h.skipped("a", T0 + timedelta(minutes=10))
    return h


def test_position_and_redelivery_is_a_no_op() -> None:
    events = busy_history().events
    views = fold(events)
    before = snapshot.snapshot(views)

    position = state.apply_batch(views, events[3:])

    assert position == views.position == len(events)
    assert snapshot.snapshot(views) == before


def test_a_failing_fold_is_poison_and_the_rest_still_applies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = busy_history()
    good = h.events[-1].envelope.event
    naive = datetime(2024, 1, 1)  # garbage from a broken producer: lateness cannot be computed
    bad = RunStarted(schedule_id=h.sid("a"), name="a", fire_id="f", fire_time=naive, run_id="r")
    h.add(bad)
    h.add(good)

    # why INFO: the history is from before this process started (log/decoding.poison_level)
    with caplog.at_level(logging.INFO, logger="jetcron.projections.state"):
        views = fold(h.events)

    bad_seq = len(h.events) - 1
    assert (views.poison, views.position) == (1, len(h.events))
    assert [(s.seq, s.type) for s in views.poison_samples] == [(bad_seq, "run.started")]
    assert "TypeError" in views.poison_samples[0].problem
    assert f"seq={bad_seq} type=run.started" in caplog.text
    assert views.schedules.rows["a"].runs_total == 3  # the schedules fold still saw it


def test_poison_samples_are_capped() -> None:
    h = History()
    h.create("a")
    for i in range(state.MAX_POISON_SAMPLES + 5):
        h.add(
            RunStarted(
                schedule_id="x",
                name="a",
                fire_id=f"f{i}",
                fire_time=datetime(2024, 1, 1),
                run_id=f"r{i}",
            )
        )

    views = fold(h.events)

    assert views.poison == state.MAX_POISON_SAMPLES + 5
    assert len(views.poison_samples) == state.MAX_POISON_SAMPLES


def test_snapshot_round_trip() -> None:
    views = fold(busy_history().events)

    restored = snapshot.restore(snapshot.snapshot(views))

    assert restored is not None
    assert msgspec.to_builtins(restored) == msgspec.to_builtins(views)
    assert restored.runs.rows.keys() == views.runs.rows.keys()


@pytest.mark.parametrize("part_rows", [1, 2, snapshot.PART_ROWS])
def test_snapshot_in_parts_restores_byte_for_byte(part_rows: int) -> None:
    views = fold(busy_history().events)
    rows = len(views.runs.rows)

    restored = snapshot.restore(snapshot.snapshot(views, part_rows))

    assert restored is not None
    assert snapshot.snapshot(restored) == snapshot.snapshot(views)
    assert list(restored.ledger.entries) == list(views.ledger.entries)
    assert len(views.runs.rows) == rows  # storing leaves the live views whole


def test_restored_views_hold_one_object_per_repeated_value() -> None:
    views = fold(busy_history().events)

    restored = snapshot.restore(snapshot.snapshot(views, part_rows=1))

    assert restored is not None
    run_id, row = next((k, r) for k, r in restored.runs.rows.items() if r.run_id)
    entry = restored.ledger.entries[row.fire_id]
    assert row.run_id is run_id and entry.run_id is run_id
    assert entry.fire_id is row.fire_id
    assert entry.schedule is row.schedule is restored.schedules.rows["a"].name
    assert any(k is run_id for k in restored.runs.by_schedule["a"])
    others = [r for r in restored.runs.rows.values() if r is not row and r.schedule == "a"]
    assert others and all(r.schedule is row.schedule for r in others)


def test_restored_views_share_the_times_sequences_and_definitions_the_fold_shares() -> None:
    # why past 256: smaller ints are one object each in CPython whoever makes them
    events = [msgspec.structs.replace(e, seq=e.seq + 1000) for e in busy_history().events]
    views = fold(events)

    restored = snapshot.restore(snapshot.snapshot(views, part_rows=1))

    assert restored is not None
    rows, entries = restored.runs.rows, restored.ledger.entries
    done = next(r for r in rows.values() if r.status == "succeeded")
    entry = entries[done.fire_id]
    assert entry.fire_time is done.fire_time
    assert entry.recorded_at is done.triggered_at
    assert entry.result_at is done.finished_at
    assert entry.seq is done.seq and entry.first_seq is done.seq
    skipped = next(r for r in rows.values() if r.status == "skipped")
    assert entries[skipped.fire_id].fire_time is skipped.fire_time
    for name in ("a", "b"):
        row = restored.schedules.rows[name]
        assert restored.audit.known[row.schedule_id].definition is row.definition
    assert snapshot.snapshot(restored) == snapshot.snapshot(views)


@pytest.mark.parametrize(
    "data",
    [b"", b"JCV\x00\x00" + b"\x80", b"not a snapshot", b"JCV\x00\x01garbage"],
    ids=["empty", "other-version", "foreign", "corrupt"],
)
def test_unusable_snapshot_means_rebuild(data: bytes) -> None:
    assert snapshot.restore(data) is None


def test_a_snapshot_of_another_format_is_said_as_a_rebuild(
    caplog: pytest.LogCaptureFixture,
) -> None:
    older = b"JCV" + (snapshot.SNAPSHOT_VERSION - 2).to_bytes(2, "big") + b"\x80"

    assert snapshot.restore(older) is None

    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert (
        f"format v{snapshot.SNAPSHOT_VERSION - 2}, this jetcron reads v{snapshot.SNAPSHOT_VERSION}"
        in (record.getMessage())
    )
    assert "rebuilding the views from the log" in record.getMessage()


def test_snapshot_starts_with_its_version() -> None:
    data = snapshot.snapshot(state.Views())

    assert data[3:5] == snapshot.SNAPSHOT_VERSION.to_bytes(2, "big")


def test_replay_as_of() -> None:
    h = History()
    h.create("a", "*/5 * * * *")
    h.tick(timedelta(hours=1))
    h.update("a", spec="*/10 * * * *")
    h.tick(timedelta(hours=1))
    h.pause("a")

    before = state.replay(h.events, as_of=T0 + timedelta(minutes=30))
    between = state.replay(h.events, as_of=T0 + timedelta(minutes=90))
    after = state.replay(h.events)

    assert before.schedules.rows["a"].definition.spec == "*/5 * * * *"
    assert between.schedules.rows["a"].definition.spec == "*/10 * * * *"
    assert (between.schedules.rows["a"].state, after.schedules.rows["a"].state) == (
        "active",
        "paused",
    )


def test_replay_as_of_prefers_the_server_append_time() -> None:
    h = History()
    h.create("a")
    skewed = msgspec.structs.replace(h.events[0].envelope, at=T0 + timedelta(days=1))
    appended_ns = int(T0.timestamp()) * 10**9
    stored = StoredEvent(seq=1, subject="jetcron.sched.a", envelope=skewed, stored_ns=appended_ns)

    views = state.replay([stored], as_of=T0)

    assert "a" in views.schedules.rows


@pytest.mark.parametrize("cut", [0, 1, 4, 7, 9])
def test_apply_until_folds_the_prefix_appended_by_as_of(cut: int) -> None:
    events = busy_history().events
    as_of = events[cut - 1].envelope.at if cut else T0 - timedelta(days=1)
    views = state.Views()

    first, rest = events[:5], events[5:]
    more = state.apply_until(views, first, as_of) and state.apply_until(views, rest, as_of)

    assert more is (cut == len(events))
    assert snapshot.snapshot(views) == snapshot.snapshot(fold(events[:cut]))
    assert snapshot.snapshot(state.replay(events, as_of=as_of)) == snapshot.snapshot(views)


def test_restored_views_equal_the_fold_even_where_strings_equal_a_default() -> None:
    """A decoded "default" is not the default object, so msgspec writes it out; a restore
    shares it onto the default, which is left out. `canonical` makes both the same data
    (replay --verify said DIFFERENT after a plain restart of `up`)."""
    h = History()
    h.create("a", target="".join(["def", "ault"]))  # as an event decoded from the log has it
    h.create("b")
    folded = fold(h.events)
    restored = snapshot.restore(snapshot.snapshot(folded))
    assert restored is not None
    assert msgspec.json.encode(restored) != msgspec.json.encode(folded)  # the trap itself
    as_json = msgspec.json.decode(msgspec.json.encode(restored))  # what the service answers
    assert snapshot.canonical(as_json) == snapshot.canonical(folded)
    assert snapshot.canonical(restored) == snapshot.canonical(fold(h.events))


def test_a_fold_keeps_one_object_per_run_id_in_its_windows() -> None:
    # why decoded: a reader decodes each event's own copy of its run id
    data = msgspec.json.encode(busy_history().events)
    views = fold(msgspec.json.decode(data, type=list[StoredEvent]))

    keys = {id(k) for k in views.runs.rows}
    finished = [k for ks in views.runs.finished.values() for k in ks]
    ended = [k for ks in views.schedules.ended.values() for k in ks]
    assert finished and ended
    assert all(id(k) in keys for k in finished + ended)
