"""Query answers from folded views: run id prefixes, not-found names (pure, no server)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from projection_factory import T0, History, fold

from jetcron.domain.errors import ScheduleNotFound
from jetcron.errors import InvalidInput
from jetcron.projections import fire_queries, queries, schedule_queries

NOW = T0 + timedelta(days=1)


def history(runs: int) -> tuple[History, list[str]]:
    h = History()
    h.create("backup")
    return h, [h.trigger("backup", T0 + timedelta(minutes=5 * i)) for i in range(runs)]


def test_a_run_is_found_by_its_id_or_a_unique_prefix() -> None:
    h, made = history(3)
    views = fold(h.events)

    for ref in (made[1], made[1][:8], f" {made[1][:8]} "):
        assert queries.one_run(views, {"run_id": ref}, NOW)["run_id"] == made[1]


def test_an_ambiguous_prefix_names_the_candidates() -> None:
    h, made = history(60)
    views = fold(h.events)
    prefix = next(p for p in (r[:1] for r in made) if sum(r.startswith(p) for r in made) > 1)
    first = sorted(r for r in made if r.startswith(prefix))[0]

    with pytest.raises(InvalidInput, match=f"'{prefix}' is ambiguous: it starts {first}, "):
        queries.one_run(views, {"run_id": prefix}, NOW)


@pytest.mark.parametrize("ref", ["", "zzz"], ids=["empty", "unknown"])
def test_no_run(ref: str) -> None:
    h, _ = history(1)

    with pytest.raises(InvalidInput, match="run id|no run"):
        queries.one_run(fold(h.events), {"run_id": ref}, NOW)


def test_audit_of_an_unknown_name_is_not_found_a_deleted_one_is_history() -> None:
    h, _ = history(0)
    h.create("old")
    h.delete("old")
    views = fold(h.events)

    with pytest.raises(ScheduleNotFound, match="'nope'"):
        queries.audit_of(views, {"name": "nope"}, NOW)
    assert [e["type"] for e in queries.audit_of(views, {"name": "old"}, NOW)] == [
        "schedule.created",
        "schedule.deleted",
    ]
    assert queries.audit_of(views, {"name": "backup", "since": "2030-01-01"}, NOW) == []


def test_since_is_inclusive_and_takes_a_duration_back_from_now() -> None:
    h, made = history(12)  # runs fired at T0, T0+5m, ... T0+55m
    views = fold(h.events)
    now = T0 + timedelta(hours=1)

    def fired(since: str) -> list[str]:
        page = queries.list_runs(views, {"schedule": "backup", "since": since}, now)
        return sorted(r["fire_time"] for r in page["runs"])

    def fire_times(since: str) -> list[str]:
        answer = fire_queries.fires_of(views, {"name": "backup", "since": since}, now)
        return [f["utc"] for f in answer["fires"]]

    assert fired("2024-01-01T00:50:00Z") == ["2024-01-01T00:50:00Z", "2024-01-01T00:55:00Z"]
    assert fired("10m") == fired("2024-01-01T00:50:00Z")
    assert fire_times("10m") == [
        "2024-01-01T00:50:00Z",
        "2024-01-01T00:55:00Z",
        "2024-01-01T01:00:00Z",
    ]
    assert fire_times("2024-01-01T00:55") == fire_times("5m")
    with pytest.raises(
        InvalidInput, match=r"invalid time 'yesterday': use ISO-8601 .* or a duration"
    ):
        queries.audit_of(views, {"since": "yesterday"}, now)


def test_until_is_inclusive_as_in_fires_and_after_since_is_refused() -> None:
    """newcomer18a #9: `runs list --since A --until B`, what ran in a window; both ends
    included, as `fires --since --until`."""
    h, _ = history(12)  # runs fired at T0, T0+5m, ... T0+55m
    views = fold(h.events)
    now = T0 + timedelta(hours=1)

    def fired(**window: str) -> list[str]:
        page = queries.list_runs(views, {"schedule": "backup", **window}, now)
        return sorted(r["fire_time"] for r in page["runs"])

    def fire_times(**window: str) -> list[str]:
        answer = fire_queries.fires_of(views, {"name": "backup", **window}, now)
        return [f["utc"] for f in answer["fires"]]

    window = {"since": "2024-01-01T00:10:00Z", "until": "2024-01-01T00:20:00Z"}
    assert fired(**window) == [
        "2024-01-01T00:10:00Z",
        "2024-01-01T00:15:00Z",
        "2024-01-01T00:20:00Z",
    ]
    assert fired(**window) == fire_times(**window)
    assert fired(until="50m") == fired(until="2024-01-01T00:10:00Z")  # a duration back
    assert len(fired(until="2024-01-01T00:10:00Z")) == 3
    with pytest.raises(
        InvalidInput, match=r"^--since 2024-01-01T00:20:00Z is after --until 2024-01-01T00:10:00Z$"
    ):
        fired(since="2024-01-01T00:20:00Z", until="2024-01-01T00:10:00Z")


def test_a_future_since_is_refused_by_runs_list_as_by_fires() -> None:
    """left21 #2: `runs list --since <future>` listed nothing while `fires` refused it (as
    `--since X is after --until <now>`, an --until nobody gave): one rule, one line."""
    h, _ = history(3)
    views = fold(h.events)
    now = T0 + timedelta(hours=1)
    future = {"since": "2024-01-01T02:00:00Z"}
    said = r"^--since 2024-01-01T02:00:00Z is in the future \(now 2024-01-01T01:00:00Z\)$"

    with pytest.raises(InvalidInput, match=said):
        queries.list_runs(views, {"schedule": "backup", **future}, now)
    with pytest.raises(InvalidInput, match=said):
        fire_queries.fires_of(views, {"name": "backup", **future}, now)
    # with an --until after it, a future --since is a window (fires lists upcoming fires)
    ahead = {**future, "until": "2024-01-01T03:00:00Z"}
    assert queries.list_runs(views, {"schedule": "backup", **ahead}, now)["runs"] == []
    assert fire_queries.fires_of(views, {"name": "backup", **ahead}, now)["until"] == (
        "2024-01-01T03:00:00Z"
    )


def reused_name() -> tuple[History, list[str], list[str]]:
    """`hello` ran twice, was deleted and created again (a new id), then ran once."""
    h = History()
    h.create("hello")
    old = [h.trigger("hello", T0 + timedelta(minutes=5 * i)) for i in (1, 2)]
    for run in old:
        h.succeeded(run)
    h.delete("hello")
    h.create("hello")
    new = [h.trigger("hello", T0 + timedelta(minutes=30))]
    return h, old, new


def test_a_reused_name_shows_and_counts_only_the_live_schedules_runs() -> None:
    h, old, new = reused_name()
    views = fold(h.events)

    shown = schedule_queries.one_schedule(views, {"name": "hello"}, NOW)
    assert [r["run_id"] for r in shown["runs"]] == new
    [overall, by_name, *_] = queries.stats_of(views, {"schedule": "hello"}, NOW)
    assert (overall.runs, by_name.runs) == (1, 1)
    windowed = queries.stats_of(views, {"schedule": "hello", "window_s": 86400 * 7}, NOW)
    assert windowed[0].runs == 1
    current = queries.list_runs(views, {"schedule": "hello", "current": True}, NOW)
    assert [r["run_id"] for r in current["runs"]] == new


def test_a_reused_names_history_lists_the_earlier_schedules_runs_marked_previous() -> None:
    h, old, new = reused_name()
    views = fold(h.events)

    page = queries.list_runs(views, {"schedule": "hello"}, NOW)
    assert [(r["run_id"], r.get("previous", False)) for r in page["runs"]] == [
        (new[0], False),
        (old[1], True),
        (old[0], True),
    ]
    assert queries.one_run(views, {"run_id": old[0]}, NOW)["previous"] is True
    assert "previous" not in queries.one_run(views, {"run_id": new[0]}, NOW)


def test_a_deleted_names_stats_are_its_history() -> None:
    h, old, new = reused_name()
    h.delete("hello")
    views = fold(h.events)

    [overall, *_] = queries.stats_of(views, {"schedule": "hello"}, NOW)
    assert overall.runs == 3


def test_the_fires_before_the_creation_are_one_entry_with_a_count() -> None:
    # newcomer18b F12: `fires --since 1h` of a minutely schedule created a minute ago gave 58
    # not_created rows before its 2 real ones
    h = History(start=T0 + timedelta(minutes=58, seconds=30))
    h.create("tick", spec="* * * * *")
    h.trigger("tick", T0 + timedelta(minutes=59))
    views = fold(h.events)
    now = T0 + timedelta(minutes=59, seconds=30)

    answer = fire_queries.fires_of(views, {"name": "tick", "since": "1h"}, now)
    one = fire_queries.fires_of(views, {"name": "tick", "since": "1h", "limit": 2}, now)

    before, *after = answer["fires"]
    assert (before["fate"], before["count"]) == ("not_created", 59)
    assert (before["utc"], before["last_utc"]) == ("2024-01-01T00:00:00Z", "2024-01-01T00:58:00Z")
    assert [f["fate"] for f in after] == ["triggered"] and "count" not in after[0]
    assert one["fires"] == answer["fires"] and not one["more"], "the summary is one entry"
