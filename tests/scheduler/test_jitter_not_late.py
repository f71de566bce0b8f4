"""A fire's chosen jitter is no lateness for the ticker (domain/lateness.py): a fire triggered
at fire + jitter is on time whatever the catch-up policy, and its trigger records the jitter."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest
from test_planner import BUSY, IN_FLIGHT, T, entry

from jetcron.domain.definition import CatchUp
from jetcron.domain.events import RunTriggered
from jetcron.scheduler.appends import event_for
from jetcron.scheduler.firetimes import jitter_of
from jetcron.scheduler.planner import Miss, Skip, Trigger, decide_due

HOURLY = "0 * * * *"
JITTER_S = 0.45 * 3600
"""Below half the hour, so not capped; the fire at T gets 6m36s of it (over MISSED_AFTER)."""


def jittered(**kw: object):  # type: ignore[no-untyped-def]
    e = entry(HOURLY, jitter_s=JITTER_S, **kw)
    j = jitter_of(e, T)
    assert j > timedelta(minutes=1)  # why: the case only bites with a jitter over a minute
    return e, j


@pytest.mark.parametrize("policy", ["none", "latest", "all"])
def test_a_fire_due_at_its_jitter_is_triggered_not_missed(policy: str) -> None:
    e, j = jittered(catchup=CatchUp(policy=policy))  # type: ignore[arg-type]
    assert decide_due(e, T + j + timedelta(seconds=1)) == [Trigger(T)]


def test_a_fire_late_after_its_jitter_is_missed_with_catch_up_none() -> None:
    e, j = jittered(catchup=CatchUp(policy="none"))
    [miss] = decide_due(e, T + j + timedelta(seconds=61))
    assert isinstance(miss, Miss) and miss.reason.endswith("catch-up policy is none")


def test_the_window_counts_from_when_the_fire_was_due() -> None:
    # why: a catch-up window shorter than the jitter; due at T + j, found 2 minutes later
    e, j = jittered(catchup=CatchUp(policy="latest", window_s=300))
    assert decide_due(e, T + j + timedelta(minutes=2)) == [Trigger(T)]
    [miss] = decide_due(e, T + j + timedelta(minutes=6))
    assert isinstance(miss, Miss) and "older than the catch-up window" in miss.reason


def test_an_overlap_skip_at_its_jitter_does_not_say_it_was_decided_late() -> None:
    e, j = jittered(in_flight=dict(IN_FLIGHT), overlap="skip")
    assert decide_due(e, T + j + timedelta(seconds=1)) == [Skip(T, BUSY, "r0")]


def test_a_buffered_fire_is_not_dropped_when_the_next_fire_waits_for_its_jitter() -> None:
    # why: lateness.stale drops a queue once the ticker was away, judged by the oldest due fire
    e, j = jittered(
        in_flight=dict(IN_FLIGHT),
        overlap="buffer_one",
        buffered=T - timedelta(hours=1),
        catchup=CatchUp(policy="none"),
    )
    decisions = decide_due(e, T + j + timedelta(seconds=1))
    assert not any(isinstance(d, Miss) for d in decisions), decisions


def test_the_trigger_records_the_jitter_it_was_given() -> None:
    e, j = jittered()
    _, event, _ = event_for(e, Trigger(T))
    assert isinstance(event, RunTriggered) and event.jitter_s == j.total_seconds()


def test_a_trigger_without_jitter_is_stored_as_before() -> None:
    _, event, _ = event_for(entry(HOURLY), Trigger(T))
    assert isinstance(event, RunTriggered) and event.jitter_s == 0.0
    assert b"jitter_s" not in msgspec.json.encode(event)
