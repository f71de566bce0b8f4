"""The attempts of one run and their fates, as `runs show` lists them (pure, no server)."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from projection_factory import History

from jetcron.projections.attempts import attempts


def test_an_attempt_whose_executor_died_is_abandoned_when_the_next_one_starts() -> None:
    h = History()
    h.create("backup")
    run = h.trigger("backup")
    h.started(run, attempt=1, executor="host-a")  # host-a dies: no result ever comes
    h.started(run, attempt=2, executor="host-b")
    h.failed(run, attempt=2, executor="host-b", retry_in=timedelta(seconds=10), exit_code=3)
    h.started(run, attempt=3, executor="host-b")
    h.succeeded(run, attempt=3, executor="host-b", duration_s=2.0)

    got = [(a.attempt, a.executor, a.fate, a.detail) for a in attempts(h.events)]

    assert got == [
        (1, "host-a", "abandoned", "no result; attempt 2 took over"),
        (2, "host-b", "retried", "boom"),
        (3, "host-b", "succeeded", ""),
    ]


def test_a_single_attempt_runs_until_its_result_and_a_lost_one_says_why() -> None:
    h = History()
    h.create("backup")
    run = h.trigger("backup")
    h.started(run)
    assert [a.fate for a in attempts(h.events)] == ["running"]

    h.lost(run)
    [only] = attempts(h.events)
    assert (only.fate, only.detail) == ("lost", "no result within timeout + grace")


def test_an_attempt_with_no_result_is_abandoned_when_a_later_one_is_cancelled_before_starting() -> (
    None
):
    from jetcron.domain.events import RunCancelled

    h = History()
    h.create("sync")
    run = h.trigger("sync")
    h.started(run, attempt=1, executor="vm")  # its executor was killed: no result
    # attempt 2 was taken, then cancelled by the next fire (cancel_previous) before it started
    h.add(RunCancelled(**h._run(run), attempt=2, executor="vm", reason="overlap"))

    got = [(a.attempt, a.fate, a.detail) for a in attempts(h.events)]

    assert got == [
        (1, "abandoned", "no result; attempt 2 took over"),
        (2, "cancelled", "overlap"),
    ]


def test_an_attempt_handed_back_before_it_started_is_no_start() -> None:
    # newcomer18b F7: after `up` was killed mid-fire, attempt 1 of a job that never ran read
    # "started ... abandoned", and the run's start 63 ms after the fire time
    from jetcron.cli.run_facts import facts
    from jetcron.domain.events import RunHandedBack

    h = History()
    h.create("quick")
    run = h.trigger("quick")
    fired = h.triggers[run].fire_time
    h.started(run, attempt=1, executor="exA")
    why = "its supervisor died before it started the job"
    h.add(RunHandedBack(**h._run(run), attempt=1, executor="exA", reason=why))
    h.tick(timedelta(seconds=25))
    h.started(run, attempt=2, executor="exA")
    h.succeeded(run, attempt=2, executor="exA", duration_s=2.0)

    tried = attempts(h.events)
    row = {"run_id": run, "schedule": "quick", "status": "succeeded", "attempt": 2,
           "fire_time": fired.isoformat(), "started_at": fired.isoformat(), "lateness_s": 0.06,
           "executor": "exA", "finished_at": fired.isoformat(),
           "attempts": [msgspec.to_builtins(a) for a in tried]}  # fmt: skip
    said = dict(facts(row))

    assert [(a.attempt, a.fate, a.started_at) for a in tried][0] == (1, "handed_back", None)
    assert tried[1].fate == "succeeded"
    began = tried[1].started_at
    assert began is not None and said["started"] == (
        f"{began:%Y-%m-%dT%H:%M:%SZ} on exA, {(began - fired).seconds}s after the fire time "
        "(attempt 1 handed back before it started)"
    )
    assert said["attempts"] == f"#1 on exA: handed back before it started ({why})"
    assert "(attempt" not in said["finished"], "the started line names attempt 2 already"
