"""One process per executor name: claimed with compare-and-set on its heartbeat key, kept so.

A live heartbeat under a name refuses a second executor of that name, except
- a crash leftover on this host (`crashed_here`: its pid is gone, or is our own pid: a
  restarted container), which is known dead from the pid alone;
- with `--replace`, the very holder seen when we first looked (`same_instance`).

The claim is our first heartbeat, written with `Nats-Expected-Last-Subject-Sequence` = the
revision we read (0: absent). Of claimers that read the same state exactly one write lands;
the others read again and the rules above refuse them, because the winner is now the live
holder (alive, not the one `--replace` saw). Every later beat is CAS on our own last
revision too (executors/heartbeat.py), so an executor whose name was taken over (`--replace`,
or after its key expired in a long outage) finds out at its next beat and stops.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime

import msgspec
from nats.aio.client import Client

import jetcron
from jetcron.errors import JetcronError
from jetcron.executors.actions import installed, parameters
from jetcron.executors.config import ExecutorConfig
from jetcron.log import heartbeats
from jetcron.log.errors import ConcurrencyConflict
from jetcron.log.heartbeats import ExecutorInfo, ttl_s

ROUNDS = 5
"""Reads and writes one claim tries before it gives up (each lost race means a fresh look)."""


class NameHeld(JetcronError):
    """Another executor holds the name (its live heartbeat); None: it kept changing under us."""

    def __init__(self, name: str, holder: ExecutorInfo | None) -> None:
        self.name, self.holder = name, holder
        where = f"{holder.hostname or '?'} pid {holder.pid or '?'}" if holder else "another executor"  # fmt: skip
        super().__init__(f"executor {name!r} is already online on {where}")


class NameTaken(JetcronError):
    """Our name was taken by another executor while we ran: we stopped."""

    def __init__(self, name: str, holder: ExecutorInfo) -> None:
        self.name, self.holder = name, holder
        super().__init__(
            f"executor {name!r} stopped: its name was taken by the executor on "
            f"{holder.hostname or '?'} pid {holder.pid or '?'} (--replace, or after this one "
            "was unreachable longer than its heartbeat lives)"
        )


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """A name won: the heartbeat we wrote and its revision (the next beat's CAS)."""

    info: ExecutorInfo
    revision: int
    took_over: ExecutorInfo | None = None
    """The holder whose name we took (a crash leftover, or the one --replace replaced)."""
    leftover: bool = False
    """`took_over` crashed on this host (else --replace took a live one's name)."""


def identity(config: ExecutorConfig, started_at: datetime) -> ExecutorInfo:
    """What an executor's heartbeats say about it, stamped with this process (`stamped`)."""
    c = config
    info = ExecutorInfo(
        name=c.name, targets=list(c.targets), tags=list(c.tags), interval_s=c.heartbeat_s,
        started_at=started_at, actions=installed(), action_params=parameters(),
        allow_shell=c.allow_shell, concurrency=c.concurrency, ack_wait_s=c.ack_wait_s,
    )  # fmt: skip
    return stamped(info)


def stamped(info: ExecutorInfo) -> ExecutorInfo:
    """`info` with this process's version, pid and host name (who holds the name)."""
    return msgspec.structs.replace(
        info, version=jetcron.__version__, pid=os.getpid(), hostname=socket.gethostname()
    )


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # why: it exists, it is someone else's
    return pid > 0


def crashed_here(
    info: ExecutorInfo, host: str, alive: Callable[[int], bool], me: int | None = None
) -> bool:
    """The holder of the name ran on this host and its process is gone: a crash leftover.

    why `me`: in a container the executor is pid 1 before and after a restart; a heartbeat
    that names our own pid on our host is our predecessor's, not a live second executor.
    """
    if not info.hostname or info.hostname != host or info.pid <= 0:
        return False
    return info.pid == (os.getpid() if me is None else me) or not alive(info.pid)


def same_instance(a: ExecutorInfo, b: ExecutorInfo) -> bool:
    """Two heartbeats of one process run: same host, pid and start time."""
    return (a.hostname, a.pid, a.started_at) == (b.hostname, b.pid, b.started_at)


def may_take(
    held: ExecutorInfo,
    me: ExecutorInfo,
    replaced: ExecutorInfo | None,
    alive: Callable[[int], bool],
) -> bool:
    """Whether `me` may take a name `held` live: a crash leftover here, or the holder that
    `--replace` saw first (`replaced`; never a newcomer that won a race meanwhile)."""
    if crashed_here(held, me.hostname, alive, me.pid):
        return True
    return replaced is not None and same_instance(held, replaced)


async def claim(
    nc: Client,
    me: ExecutorInfo,
    *,
    replace: bool = False,
    alive: Callable[[int], bool] = pid_alive,
) -> Claim:
    """Write our first heartbeat if the name is ours to take; NameHeld if it is not."""
    await heartbeats.require_bucket(nc)
    first: ExecutorInfo | None = None
    held: ExecutorInfo | None = None
    for attempt in range(ROUNDS):
        revision, held = await heartbeats.current(nc, me.name)
        if attempt == 0:
            first = held
        if held is not None and not may_take(held, me, first if replace else None, alive):
            raise NameHeld(me.name, held)
        try:
            seq = await heartbeats.put(nc, me, ttl_s(me.interval_s), expect=revision)
        except ConcurrencyConflict:
            continue  # why: someone wrote the key since we read it: look again, decide again
        gone = held is not None and crashed_here(held, me.hostname, alive, me.pid)
        return Claim(info=me, revision=seq, took_over=held, leftover=gone)
    raise NameHeld(me.name, held)


async def check(
    nc: Client, me: ExecutorInfo, *, alive: Callable[[int], bool] = pid_alive
) -> ExecutorInfo | None:
    """NameHeld if `claim` would refuse `me` now (no write): for a refusal before starting
    anything; the leftover it would take over, if any. Only `claim` decides who wins."""
    _, held = await heartbeats.current(nc, me.name)
    if held is not None and not may_take(held, me, None, alive):
        raise NameHeld(me.name, held)
    return held
