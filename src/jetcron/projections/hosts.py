"""Executors as the log knows them (online or offline since which event), and the transitions
their heartbeats call for; pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import ExecutorOffline, ExecutorOnline

Transition = ExecutorOffline | ExecutorOnline


class HostsView(msgspec.Struct, kw_only=True, gc=False):
    """Executor name -> (online, seq of the event that said so, since when, its tags)."""

    online: dict[str, bool] = {}
    seq: dict[str, int] = {}
    since: dict[str, datetime] = {}
    """When the log last said online or offline (the event's time)."""
    tags: dict[str, list[str]] = {}
    """Its tags when it last came online (executors whose online event recorded them)."""


def transitions(
    view: HostsView, live: Iterable[str], tags: Mapping[str, Sequence[str]] | None = None
) -> list[tuple[Transition, str]]:
    """The events (with their msg ids) that make the log agree with the live heartbeats.

    `tags`: the live executors' tags, recorded on their online events (fan-out membership).
    """
    live = set(live)
    out: list[tuple[Transition, str]] = []
    for name in sorted(live | set(view.online)):
        now_online, was_online = name in live, view.online.get(name, False)
        if now_online == was_online:
            continue
        event: Transition = (
            ExecutorOnline(name=name, tags=None if tags is None else list(tags.get(name, [])))
            if now_online
            else ExecutorOffline(name=name)
        )
        # why: one id per (executor, state it leaves): two leaders with the same view store one
        state = "online" if now_online else "offline"
        out.append((event, f"executor-{state}:{name}:{view.seq.get(name, 0)}"))
    return out


def _on(view: HostsView, event: Transition, stored: StoredEvent) -> None:
    view.online[event.name] = isinstance(event, ExecutorOnline)
    view.seq[event.name] = stored.seq
    view.since[event.name] = stored.envelope.at.astimezone(UTC)
    if isinstance(event, ExecutorOnline) and event.tags is not None:
        view.tags[event.name] = list(event.tags)


HANDLERS: dict[type, Callable[[HostsView, Any, StoredEvent], None]] = {
    ExecutorOffline: _on,
    ExecutorOnline: _on,
}
