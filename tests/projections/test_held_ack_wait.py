"""The held-run note names the executor's own `--ack-wait` when its online event recorded it
(held.py), from the heartbeat through hosts.transitions into the hosts view; pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.executors import launch
from jetcron.executors.config import ExecutorConfig
from jetcron.executors.naming import identity
from jetcron.projections import held, hosts

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def folded(view: hosts.HostsView, found: list[tuple[hosts.Transition, str]], seq: int) -> None:
    for event, _ in found:
        env = Envelope(id=f"e{seq}", at=T0, actor="hosts", event=event)
        hosts.HANDLERS[type(event)](view, event, StoredEvent(seq=seq, subject="x", envelope=env))


def test_the_online_event_carries_the_heartbeats_ack_wait_and_the_view_keeps_it() -> None:
    view = hosts.HostsView()
    found = hosts.transitions(view, ["a", "b"], ack_waits={"a": 10.0, "b": None})
    assert [(e.name, getattr(e, "ack_wait_s", "?")) for e, _ in found] == [("a", 10.0), ("b", None)]
    folded(view, found, 1)
    assert view.ack_wait == {"a": 10.0}
    # why: back with an executor too old to say: the old value would be a guess
    folded(view, hosts.transitions(view, [], hold_offline=False), 2)
    folded(view, hosts.transitions(view, ["a"], ack_waits={"a": None}), 3)
    assert view.ack_wait == {}


@pytest.mark.parametrize(
    ("ack_wait_s", "within"),
    [
        (None, "within 0.3 × ack-wait (9 s by default) of going silent"),
        (30.0, "within 0.3 × its ack-wait (9 s) of going silent"),
        (5.0, "within 0.3 × its ack-wait (1.5 s) of going silent"),
    ],
)
def test_the_fate_names_the_stop_delay(ack_wait_s: float | None, within: str) -> None:
    assert within in held.fate(1, ack_wait_s)


def test_the_shares_and_default_are_the_executors() -> None:
    assert held.STOP_SHARE == launch.ORPHAN_SHARE
    assert held.DEFAULT_ACK_WAIT_S == ExecutorConfig(name="x", targets=["x"]).ack_wait_s


def test_the_heartbeat_says_the_executors_ack_wait() -> None:
    config = ExecutorConfig(name="ex1", targets=["ex1"], ack_wait_s=12.0)
    assert identity(config, T0).ack_wait_s == 12.0
