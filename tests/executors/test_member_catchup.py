"""A fan-out member that takes triggers late applies the schedule's catch-up policy for itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client
from test_agent import config, events, kinds, publish, trigger

from jetcron.domain.definition import CatchUp, Job
from jetcron.executors.agent import Executor
from jetcron.executors.catchup import stale
from jetcron.log.stream import EventLog

NEWER = datetime(2026, 3, 29, 1, 45, tzinfo=UTC)


def fan(policy: str = "latest", **fields: Any) -> Any:
    return trigger(
        Job(command=["true"]),
        target="all:lights",
        catchup=CatchUp(policy=policy, window_s=3600),  # type: ignore[arg-type]
        **fields,
    )


@pytest.mark.parametrize(
    ("policy", "late_s", "newer", "fields", "expected"),
    [
        ("latest", 30, None, {}, ""),  # on time: the 60 s rule
        ("latest", 30, NEWER, {}, "coalesced: several fires were waiting for this executor"),
        ("all", 30, NEWER, {}, ""),
        ("latest", 30, NEWER, {"overlap": "allow"}, ""),
        ("latest", 300, None, {}, ""),  # the newest of its backlog
        ("latest", 300, NEWER, {}, "catch-up latest: the newer fire 2026-03-29T01:45:00Z runs"),
        ("none", 61, None, {}, "missed: taken 1m1s after it fired; catch-up policy is none"),
        ("all", 300, NEWER, {}, ""),
        ("all", 7200, None, {}, "beyond the catch-up window (1h)"),
        ("none", 300, None, {"manual": True}, ""),  # an operator asked for it
    ],
    ids=[
        "on-time",
        "coalesced",
        "coalesced-all",
        "coalesced-allow",
        "newest",
        "older",
        "none",
        "all",
        "beyond-window",
        "manual",
    ],  # fmt: skip
)
def test_a_late_member_decides_by_the_schedules_catch_up_policy(
    policy: str, late_s: float, newer: datetime | None, fields: dict[str, Any], expected: str
) -> None:
    why = stale(fan(policy, **fields), timedelta(seconds=late_s), newer)
    assert (expected in why) if expected else why == ""


def test_a_trigger_without_a_policy_always_runs() -> None:
    plain = msgspec.structs.replace(fan("none"), catchup=None)
    assert stale(plain, timedelta(hours=5), NEWER) == ""


def at(t: Any, fire_time: datetime) -> Any:
    return msgspec.structs.replace(t, fire_time=fire_time)


class Later:
    """The executor's clock, `ahead` past the real one: its triggers look that late."""

    def __init__(self, ahead: timedelta) -> None:
        self.ahead = ahead

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    async def sleep_until(self, when: datetime) -> None:  # pragma: no cover - unused here
        raise NotImplementedError


async def back_after(nc: Client, ahead: timedelta) -> Executor:
    ex = Executor(nc, config("pi2", tags=["lights"]), clock=Later(ahead))
    await ex.run_burst(10)
    return ex


async def test_back_after_minutes_only_the_newest_missed_fire_runs(
    nc: Client, event_log: EventLog
) -> None:
    base = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    backlog = [at(fan("latest"), base + timedelta(seconds=15 * i)) for i in range(4)]
    other = at(fan("latest", name="pump"), base)  # another schedule of the group
    await publish(event_log, *backlog, other)
    ex = await back_after(nc, timedelta(minutes=3))
    outcomes = [kinds(await events(event_log, t, f"{t.run_id}-pi2")) for t in backlog]
    assert outcomes == [["RunCancelled"]] * 3 + [["RunStarted", "RunSucceeded"]]
    skipped = await events(event_log, backlog[0], f"{backlog[0].run_id}-pi2")
    assert skipped[0].reason.startswith("missed: taken 3m")
    assert "the newer fire 2026-03-29T01:00:45Z runs instead" in skipped[0].reason
    assert kinds(await events(event_log, other, f"{other.run_id}-pi2"))[-1] == "RunSucceeded"
    assert (ex.stats.succeeded, ex.stats.handled) == (2, 5)


async def test_policy_none_runs_nothing_late_and_what_is_on_time_runs(
    nc: Client, event_log: EventLog
) -> None:
    late = [fan("none", name=f"late{i}") for i in range(2)]
    await publish(event_log, *late)
    await back_after(nc, timedelta(minutes=2))
    for t in late:
        assert kinds(await events(event_log, t, f"{t.run_id}-pi2")) == ["RunCancelled"]
    fresh = fan("none", name="fresh")
    await publish(event_log, fresh)
    await back_after(nc, timedelta(0))
    assert kinds(await events(event_log, fresh, f"{fresh.run_id}-pi2"))[-1] == "RunSucceeded"


async def test_back_within_a_minute_several_waiting_fires_coalesce_into_the_newest(
    nc: Client, event_log: EventLog
) -> None:
    base = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    backlog = [at(fan("latest"), base + timedelta(seconds=15 * i)) for i in range(4)]
    await publish(event_log, *backlog)
    await back_after(nc, timedelta(seconds=20))
    outcomes = [kinds(await events(event_log, t, f"{t.run_id}-pi2"))[-1] for t in backlog]
    assert outcomes == ["RunCancelled"] * 3 + ["RunSucceeded"]
    first = await events(event_log, backlog[0], f"{backlog[0].run_id}-pi2")
    assert first[0].reason == (
        "coalesced: several fires were waiting for this executor; only the newest "
        "(2026-03-29T01:00:45Z) runs"
    )


async def test_a_host_back_after_its_fire_waited_applies_the_catch_up_policy_too(
    nc: Client, event_log: EventLog
) -> None:
    """A device host switched off when its fire came: `none` does not run it late, `latest`
    within the window runs it, a fire beyond the window never runs (newcomer17b)."""
    policies = {"none": CatchUp(policy="none"), "latest": CatchUp(policy="latest")}
    waited = {
        name: trigger(Job(command=["true"]), target="pi3", name=name, catchup=policy)
        for name, policy in policies.items()
    }
    old = trigger(Job(command=["true"]), target="pi3", name="old", catchup=CatchUp(window_s=600))
    await publish(event_log, *waited.values(), old)
    ex = Executor(nc, config("pi3"), clock=Later(timedelta(minutes=15)))
    await ex.run_burst(10)

    none = await events(event_log, waited["none"])
    assert kinds(none) == ["RunCancelled"]
    assert none[0].reason.startswith("missed: taken 15m") and "policy is none" in none[0].reason
    assert kinds(await events(event_log, waited["latest"]))[-1] == "RunSucceeded"
    beyond = await events(event_log, old)
    assert kinds(beyond) == ["RunCancelled"] and "beyond the catch-up window" in beyond[0].reason
