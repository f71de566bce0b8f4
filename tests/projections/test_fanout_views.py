"""Fan-out fires (`-t all:<tag>`): the trigger is no run, its members' runs are, in every view."""

from __future__ import annotations

from datetime import timedelta

from projection_factory import T0, History, fold

from jetcron.projections import fanout, fates, fire_story, health, ledger, queries, runs, stats

F1, F2 = T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)


class _Online:
    def __init__(self, *targets: str) -> None:
        self.targets = list(targets)
        self.problems: list[str] = []


def _fan(h: History) -> tuple[str, str, str]:
    h.create("fan")
    run = h.trigger("fan", F1, target="all:lights")
    pi2, pi3 = h.member(run, "pi2"), h.member(run, "reef-pi3")
    return run, pi2, pi3


def test_the_trigger_row_is_no_run_and_members_take_its_facts() -> None:
    h = History()
    run, pi2, pi3 = _fan(h)
    h.started(pi2, executor="pi2")
    h.succeeded(pi2, executor="pi2")
    views = fold(h.events)

    rows = {r.run_id: r for r in runs.query(views.runs, "fan")}
    assert rows[run].status == "fanned_out"
    assert rows[pi2].status == "succeeded"
    assert (rows[pi2].target, rows[pi2].triggered_by) == ("all:lights", "jetcron")
    assert rows[pi2].triggered_at == rows[run].triggered_at
    assert pi3 not in rows
    assert views.runs.tallies.flight == {}
    row = views.schedules.rows["fan"]
    assert (row.runs_total, row.last_run_id, row.last_status) == (1, pi2, "succeeded")


def test_stats_health_and_in_flight_count_members_only() -> None:
    h = History()
    run, pi2, pi3 = _fan(h)
    h.started(pi2, executor="pi2")
    h.succeeded(pi2, executor="pi2")
    h.started(pi3, executor="reef-pi3")
    views = fold(h.events)

    now = F2
    per = {(r.group, r.key): r for r in queries.stats_of(views, {"schedule": "fan"}, now)}
    assert per[("schedule", "fan")].runs == 2
    assert set(k for g, k in per if g == "executor") == {"pi2", "reef-pi3"}
    assert sum(r.runs for r in stats.compute(views.runs, now=now, group="executor")) == 2
    assert list(views.runs.tallies.flight) == [pi3]
    online = {"pi2": _Online("pi2", "lights", "all:lights")}
    report = health.evaluate(views, now=now, executors_online=online)
    assert [p for p in report.problems if p.subject == "all:lights"] == []


def test_the_fire_fate_is_its_members_outcomes() -> None:
    h = History()
    run, pi2, pi3 = _fan(h)
    waiting = fold(h.events).ledger.entries
    h.started(pi2, executor="pi2")
    h.succeeded(pi2, executor="pi2")
    one = ledger.query(fold(h.events).ledger, "fan")[0]
    h.started(pi3, executor="reef-pi3")
    reopened = ledger.query(fold(h.events).ledger, "fan")[0]
    h.failed(pi3, executor="reef-pi3", error="no lamp")
    h.started(pi2, executor="pi2")  # why: a redelivered start changes nothing once it ended
    view = fold(h.events).ledger
    both = ledger.query(view, "fan")[0]

    assert [(e.status, e.executor) for e in waiting.values()] == [("triggered", "")]
    assert (one.status, one.executor, one.detail) == ("succeeded", "pi2", "")
    assert (reopened.status, reopened.executor) == ("running", "pi2,reef-pi3")
    assert (both.status, both.run_id) == ("failed", run)
    assert both.detail == "1 failed, 1 succeeded; reef-pi3: no lamp"
    assert view.settled["fan"] == [both.fire_id]  # why: settled once, though it reopened
    (fire,) = fates.fates([F1], [both], [], now=F2)
    assert (fire.fate, fire.status, fire.fanout) == ("triggered", "failed", True)


def test_a_member_is_found_by_its_short_id_and_the_prefix_means_the_trigger() -> None:
    h = History()
    run, pi2, pi3 = _fan(h)
    h.started(pi2, executor="pi2")
    h.started(pi3, executor="reef-pi3")
    view = fold(h.events).runs

    assert runs.matching(view, run[:8]) == [run]
    assert runs.matching(view, f"{run[:8]}-reef-pi3") == [pi3]
    assert runs.matching(view, pi2) == [pi2]


def test_trigger_rows_age_with_the_window() -> None:
    h = History()
    h.create("fan")
    fired = [h.trigger("fan", T0 + timedelta(minutes=5 * i), target="all:lights") for i in range(5)]
    views = state_with_keep(h, keep=2)

    assert [r.run_id for r in runs.query(views.runs, "fan")] == fired[:2:-1]
    assert views.runs.fans["fan"] == fired[3:]


def state_with_keep(h: History, keep: int):  # type: ignore[no-untyped-def]
    from jetcron.projections import state

    views = state.Views()
    views.runs.keep = keep
    state.apply_batch(views, h.events)
    return views


def test_health_waits_on_a_fan_out_only_while_no_member_ran_it_and_none_is_online() -> None:
    h = History()
    run, pi2, _ = _fan(h)
    untaken = fold(h.events)
    h.started(pi2, executor="pi2")
    taken = fold(h.events)
    h.delete("fan")
    h.create("other")
    h.trigger("other", F1, target="all:gone")
    h.delete("other")
    gone = fold(h.events)

    def waiting(views, *online: str) -> list[str]:  # type: ignore[no-untyped-def]
        report = health.evaluate(
            views, now=F2, executors_online={"x": _Online(*online)} if online else {}
        )
        return [p.subject for p in report.problems if p.subject.startswith("all:")]

    assert waiting(untaken) == ["all:lights"]
    assert waiting(untaken, "pi2", "lights", "all:lights") == []
    assert waiting(taken) == []
    assert waiting(gone) == []


def test_why_tells_a_fan_out_by_its_members() -> None:
    h = History()
    _, pi2, pi3 = _fan(h)
    h.started(pi2, executor="pi2")
    h.succeeded(pi2, executor="pi2")
    entry = ledger.query(fold(h.events).ledger, "fan")[0]
    (fire,) = fates.fates([F1], [entry], [], now=F2)

    told = [s.text for s in fire_story.story(fire, None, [])]

    assert told[1].startswith(f"Fanned out as run {entry.run_id[:8]}")
    assert told[2] == "Its members' runs on pi2: 1 succeeded"  # the tally, as for many


def test_a_big_fan_out_names_a_few_members_and_counts_the_rest() -> None:
    members = {f"pi{i}": fanout.Member(status="succeeded") for i in range(5)}
    members["pi9"] = fanout.Member(status="lost", detail="executor presumed dead")

    told = fanout.summary(members)

    assert told == fanout.Summary(
        "lost", 1, "pi0,pi1,pi2 and 3 more", "1 lost, 5 succeeded; pi9: executor presumed dead"
    )


def test_a_fan_out_no_member_took_ends_cancelled_when_its_schedule_is_deleted() -> None:
    h = History()
    run, pi2, pi3 = _fan(h)
    taken = h.trigger("fan", F2, target="all:lights")
    h.started(h.member(taken, "pi2"), executor="pi2")
    h.delete("fan")
    deleted = {e.run_id: e for e in ledger.query(fold(h.events).ledger, "fan")}
    h.started(pi3, executor="reef-pi3")  # why: a member that claimed it at that very moment
    late = ledger.query(fold(h.events).ledger, "fan")

    assert (deleted[run].status, deleted[run].detail) == ("cancelled", "schedule deleted")
    assert deleted[taken].status == "running"
    assert [e.status for e in late if e.run_id == run] == ["running"]
    (fire,) = fates.fates([F1], [deleted[run]], [], now=F2)
    assert fire.fate == "cancelled"
