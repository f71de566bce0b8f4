"""Property: any valid history folds to the same views in one pass, in chunks, and again."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from projection_factory import History, fold

from jetcron.domain.definition import Job
from jetcron.domain.envelope import StoredEvent
from jetcron.projections import snapshot, state
from jetcron.projections.runs import FAILED_STATUSES

NAMES = ("s0", "s1", "s2")
SPECS = ("*/5 * * * *", "0 3 * * *", "@every 90s", "@daily")
LIFECYCLE = ("create", "update", "pause", "resume", "complete", "delete")
FIRES = ("fire", "fire", "miss", "skip")
RUN_KINDS = (
    "started",
    "succeeded",
    "failed",
    "failed_retry",
    "timed_out",
    "timed_out_retry",
    "cancelled",
    "deferred",
    "lost",
)
op = st.tuples(
    st.sampled_from(LIFECYCLE + FIRES + FIRES + RUN_KINDS + RUN_KINDS),
    st.integers(0, len(NAMES) - 1),
    st.integers(0, 30),
)
ops_strategy = st.lists(op, min_size=20, max_size=150)


def build(ops: list[tuple[str, int, int]]) -> list[StoredEvent]:
    """Interpret random ops as a valid history; ops that do not apply are dropped."""
    h = History()
    status: dict[str, str] = {}
    for kind, i, k in ops:
        name = NAMES[i]
        if kind in RUN_KINDS:
            _run_event(h, kind, k)
        elif name not in h.schedules:
            # why: most ops need a live schedule; creating one keeps histories dense.
            h.create(name, SPECS[k % len(SPECS)], actor=f"u{k % 3}")
            status[name] = "active"
        else:
            _schedule_op(h, status, kind, name, k)
    return h.events


def _schedule_op(h: History, status: dict[str, str], kind: str, name: str, k: int) -> None:
    now = status[name]
    if kind == "update":
        h.update(name, spec=SPECS[k % len(SPECS)], job=Job(command=["job", str(k % 4)]))
        status[name] = "active" if now == "completed" else now
    elif kind == "pause" and now == "active":
        h.pause(name, f"reason {k}", by_system=k % 2 == 0)
        status[name] = "paused"
    elif kind == "resume" and now == "paused":
        h.resume(name)
        status[name] = "active"
    elif kind == "complete" and now in ("active", "paused"):
        h.complete(name)
        status[name] = "completed"
    elif kind == "delete" and k % 3 == 0:
        h.delete(name)
    elif kind == "fire":
        h.trigger(name, h.now, manual=k % 5 == 0, target=("default", "gpu")[k % 2])
    elif kind == "miss":
        h.missed(name, h.now)
    elif kind == "skip":
        h.skipped(name, h.now)


def _run_event(h: History, kind: str, k: int) -> None:
    # why: any run, in any order, including deleted schedules' runs and duplicates.
    if not h.triggers:
        return
    runs = list(h.triggers)
    run = runs[-1 - k % min(len(runs), 4)] if k % 5 else runs[k % len(runs)]
    attempt = 1 + k % 3
    retry = timedelta(seconds=30)
    if kind == "started":
        h.started(run, attempt=attempt)
    elif kind == "succeeded":
        h.succeeded(run, attempt=attempt, duration_s=float(k))
    elif kind in ("failed", "failed_retry"):
        h.failed(run, attempt=attempt, retry_in=retry if kind == "failed_retry" else None)
    elif kind in ("timed_out", "timed_out_retry"):
        h.timed_out(run, attempt=attempt, retry_in=retry if kind == "timed_out_retry" else None)
    elif kind == "cancelled":
        h.cancelled(run)
    elif kind == "deferred":
        h.deferred(run, attempt=attempt, deferrals=k % 4 + 1)
    else:
        h.lost(run)


@settings(max_examples=200, deadline=None)
@given(
    ops=ops_strategy,
    cuts=st.lists(st.integers(0, 200), max_size=6),
    redeliver=st.integers(0, 5),
    keep=st.sampled_from([0, 2]),
    keep_deleted=st.sampled_from([0, 1]),
)
def test_one_pass_equals_chunks_with_snapshots_equals_rebuild(
    ops: list[tuple[str, int, int]], cuts: list[int], redeliver: int, keep: int, keep_deleted: int
) -> None:
    events = build(ops)
    # why: keep 2 evicts often, keep_deleted 1 forgets deleted schedules often: both must be
    # deterministic too
    once = state.new_views(keep, keep_deleted)
    state.apply_batch(once, events)
    expected = snapshot.snapshot(once)

    views = state.new_views(keep, keep_deleted)
    bounds = sorted({min(c, len(events)) for c in cuts} | {0, len(events)})
    for start, end in zip(bounds, bounds[1:], strict=False):
        restored = snapshot.restore(snapshot.snapshot(views))
        assert restored is not None
        views = restored
        # why: a consumer restarting from a snapshot may see the tail of the last chunk again.
        state.apply_batch(views, events[max(0, start - redeliver) : end])

    assert snapshot.snapshot(views) == expected
    assert snapshot.snapshot(state.replay(events, keep=keep, keep_deleted=keep_deleted)) == expected
    assert once.poison == 0


@settings(max_examples=200, deadline=None)
@given(ops=ops_strategy)
def test_views_agree_with_each_other(ops: list[tuple[str, int, int]]) -> None:
    views = fold(build(ops))
    runs = [r for r in views.runs.rows.values() if r.status != "skipped"]
    rows = [*views.schedules.rows.values(), *views.schedules.deleted.values()]

    for row in rows:
        mine = [r for r in runs if r.schedule_id == row.schedule_id]
        assert row.runs_total == len(mine)
        assert row.runs_succeeded == sum(r.status == "succeeded" for r in mine)
        assert row.runs_failed == sum(r.status in FAILED_STATUSES for r in mine)
        if row.last_run_id:
            assert row.last_status == views.runs.rows[row.last_run_id].status
    for entry in views.ledger.entries.values():
        if entry.run_id:
            run = views.runs.rows[entry.run_id].status
            assert entry.status == run
