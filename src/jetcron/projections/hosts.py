"""Executors as the log knows them (online or offline since which event), and the transitions
their heartbeats call for; pure.

An executor offline because its heartbeat expired (it died, hung or lost NATS) is a health
problem until it comes back; one that stopped on purpose (it removed its heartbeat), or that an
operator acknowledged with `health --ack` (gone for good), is `quiet`: health does not list it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import ExecutorOffline, ExecutorOnline, HealthAcknowledged

Transition = ExecutorOffline | ExecutorOnline

HEARD_AGAIN_S = 12.0
"""After the log was out of reach (unreachable, stalled, refusing writes), how long executors
get to be heard again before a missing heartbeat means offline.

why: their heartbeats expired while NATS was away, whatever became of the hosts; each puts its
next one within its interval (5 s by default) once its client has reconnected (~2 s). Without
this every NATS outage over ~15 s recorded executor.offline (a WARNING and a notification)
for every executor, all fine (newcomer18b F8)."""


class HostsView(msgspec.Struct, kw_only=True, gc=False):
    """Executor name -> (online, seq of the event that said so, since when, its tags)."""

    online: dict[str, bool] = {}
    seq: dict[str, int] = {}
    since: dict[str, datetime] = {}
    """When the log last said online or offline (the event's time)."""
    tags: dict[str, list[str]] = {}
    """Its tags when it last came online (executors whose online event recorded them)."""
    quiet: dict[str, str] = {}
    """Offline executors health does not list, and why: `stopped` (on purpose) or
    `acknowledged` (`health --ack` while it was offline); cleared when it comes back."""
    ack_wait: dict[str, float] = {}
    """Its `--ack-wait` when it last came online (executors whose online event recorded it):
    how soon its supervisors stop its jobs once it goes silent (held.py)."""


def transitions(
    view: HostsView,
    live: Iterable[str],
    tags: Mapping[str, Sequence[str]] | None = None,
    stopped: Iterable[str] = (),
    *,
    hold_offline: bool = False,
    ack_waits: Mapping[str, float | None] | None = None,
) -> list[tuple[Transition, str]]:
    """The events (with their msg ids) that make the log agree with the live heartbeats.

    `tags`: the live executors' tags, recorded on their online events (fan-out membership);
    `stopped`: executors that removed their heartbeat themselves (a graceful stop);
    `hold_offline`: the log was out of reach moments ago (HEARD_AGAIN_S): an expired
    heartbeat says nothing yet, so no executor is declared offline (a stop on purpose is);
    `ack_waits`: the live executors' `--ack-wait` (None: too old to say), recorded likewise.
    """
    stopped = set(stopped)
    live = set(live)
    out: list[tuple[Transition, str]] = []
    for name in sorted(live | set(view.online)):
        now_online, was_online = name in live, view.online.get(name, False)
        if now_online == was_online:
            continue
        if hold_offline and not now_online and name not in stopped:
            continue
        event: Transition = (
            _online(name, tags, ack_waits)
            if now_online
            else ExecutorOffline(name=name, stopped=name in stopped)
        )
        # why: one id per (executor, state it leaves): two leaders with the same view store one
        state = "online" if now_online else "offline"
        out.append((event, f"executor-{state}:{name}:{view.seq.get(name, 0)}"))
    return out


def _online(
    name: str,
    tags: Mapping[str, Sequence[str]] | None,
    ack_waits: Mapping[str, float | None] | None,
) -> ExecutorOnline:
    """The online event of a live executor, with what its heartbeat said of it."""
    ack_wait = None if ack_waits is None else ack_waits.get(name)
    return ExecutorOnline(
        name=name,
        tags=None if tags is None else list(tags.get(name, [])),
        ack_wait_s=ack_wait,
    )


def _on(view: HostsView, event: Transition, stored: StoredEvent) -> None:
    view.online[event.name] = isinstance(event, ExecutorOnline)
    view.seq[event.name] = stored.seq
    view.since[event.name] = stored.envelope.at.astimezone(UTC)
    if isinstance(event, ExecutorOnline):
        if event.tags is not None:
            view.tags[event.name] = list(event.tags)
        # why: an executor back with another --ack-wait, or too old to say, must not keep
        # the one it had before
        if event.ack_wait_s is not None:
            view.ack_wait[event.name] = event.ack_wait_s
        else:
            view.ack_wait.pop(event.name, None)
    if isinstance(event, ExecutorOffline) and event.stopped:
        view.quiet[event.name] = "stopped"
    else:
        view.quiet.pop(event.name, None)


def _acknowledged(view: HostsView, event: HealthAcknowledged, stored: StoredEvent) -> None:
    """`health --ack`: the executors offline now are known to an operator (gone for good)."""
    for name, online in view.online.items():
        if not online:
            view.quiet[name] = "acknowledged"


HANDLERS: dict[type, Callable[[HostsView, Any, StoredEvent], None]] = {
    ExecutorOffline: _on,
    ExecutorOnline: _on,
    HealthAcknowledged: _acknowledged,
}
