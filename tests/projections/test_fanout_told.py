"""A fan-out fire told by its members: `why` gives their tally for a manual run as for a clock
fire (one rule, fanout.tallied), and `runs last` takes the member that finished last and names
the others (newcomer19a #13); no server."""

from __future__ import annotations

from datetime import timedelta

from projection_factory import T0, History, fold

from jetcron.projections import fire_queries, last_run, schedule_queries

NOW = T0 + timedelta(hours=1)


def _lamps(manual: bool, pi_fails: bool = False) -> tuple[History, str, str, str]:
    """`lamps` fanned out to nas and pi: pi ends first, nas a minute later."""
    h = History()
    h.create("lamps", "0 0 1 1 *")
    fire = None if manual else T0 + timedelta(seconds=2)
    run = h.trigger("lamps", fire, manual=manual, target="all:lamps", actor="alice")
    nas, pi = h.member(run, "nas"), h.member(run, "pi")
    h.started(nas, executor="nas")
    h.started(pi, executor="pi")
    if pi_fails:
        h.failed(pi, executor="pi", error="", exit_code=3)
    else:
        h.succeeded(pi, executor="pi")
    h.tick(timedelta(minutes=1))
    h.succeeded(nas, executor="nas")
    return h, run, nas, pi


def test_why_tells_a_manual_fan_out_run_by_its_members_tally() -> None:
    h, run, _, _ = _lamps(manual=True, pi_fails=True)
    failed = fire_queries.why_of(fold(h.events), {"name": "lamps"}, NOW)
    ok, *_ = _lamps(manual=True)
    succeeded = fire_queries.why_of(fold(ok.events), {"name": "lamps"}, NOW)

    assert [s["text"] for s in failed["sentences"]] == [
        "No fire of the schedule's clock since 2024-01-01T00:00:01Z",
        f"The last manual run, {run[:8]} by alice at 2024-01-01T00:00:02Z, fanned out: "
        "1 failed, 1 succeeded; pi: exit code 3",
    ]
    # a manual run whose members all succeeded is not named, as any succeeded manual run
    assert [s["text"] for s in succeeded["sentences"]] == [
        "No fire of the schedule's clock since 2024-01-01T00:00:01Z"
    ]


def test_why_of_a_clock_fan_out_fire_gives_the_same_tally() -> None:
    h, *_ = _lamps(manual=False, pi_fails=True)

    story = fire_queries.why_of(fold(h.events), {"name": "lamps", "time": "00:00:02"}, NOW)

    assert story["sentences"][0]["text"] == "2024-01-01T00:00:02Z: triggered → failed"
    assert story["sentences"][-1]["text"] == (
        "Its members' runs on nas,pi: 1 failed, 1 succeeded; pi: exit code 3"
    )


def test_runs_last_takes_the_member_that_finished_last_and_names_the_others() -> None:
    h, _, nas, pi = _lamps(manual=True)
    views = fold(h.events)

    last = last_run.last_run_of(views, {"schedule": "lamps"}, NOW)

    assert (last["run_id"], last["status"], last["executor"]) == (nas, "succeeded", "nas")
    assert last["other_members"] == [
        {
            "run_id": pi,
            "status": "succeeded",
            "executor": "pi",
            "finished_at": "2024-01-01T00:00:05Z",
        }
    ]


def test_schedule_show_and_list_name_the_member_runs_last_names() -> None:
    """left21 #4: the schedules view keeps the member it heard of last (nas, started after
    pi); `schedule show`, `schedule list` and `runs last` all name the one that finished last
    (pi): one rule, last_run.finished_last."""
    h = History()
    h.create("lamps", "0 0 1 1 *")
    run = h.trigger("lamps", T0 + timedelta(seconds=2), target="all:lamps")
    nas, pi = h.member(run, "nas"), h.member(run, "pi")
    h.started(pi, executor="pi")
    h.started(nas, executor="nas")
    running = schedule_queries.one_schedule(fold(h.events), {"name": "lamps"}, NOW)
    h.succeeded(nas, executor="nas")
    h.tick(timedelta(minutes=1))
    h.failed(pi, executor="pi")
    views = fold(h.events)

    shown = schedule_queries.one_schedule(views, {"name": "lamps"}, NOW)
    [listed] = schedule_queries.list_schedules(views, {}, NOW)
    last = last_run.last_run_of(views, {"schedule": "lamps"}, NOW)

    assert views.schedules.rows["lamps"].last_run_id == nas  # the fold's own pick
    assert last["run_id"] == pi
    assert (shown["last_run_id"], shown["last_status"]) == (pi, "failed")
    assert (listed["last_run_id"], listed["last_status"]) == (pi, "failed")
    # while no member has finished, the view's own stays, running
    assert (running["last_run_id"], running["last_status"]) == (nas, "running")
