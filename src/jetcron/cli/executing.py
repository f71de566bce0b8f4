"""`jetcron executor` at startup: refuse a missing --work-dir or a name already online, say who it is."""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from nats.aio.client import Client

from jetcron.cli.text import duration, utc
from jetcron.errors import InvalidInput
from jetcron.executors.config import ExecutorConfig, validate
from jetcron.executors.heartbeat import TTL_INTERVALS
from jetcron.log import heartbeats
from jetcron.log.heartbeats import ExecutorInfo


def check_startup(name: str, targets: list[str], tags: list[str], work_dir: str | None) -> None:
    """InvalidInput for names that cannot be subjects or a --work-dir that is no directory."""
    # why: before connecting: a bad name must not reach a subject, even one we only read
    validate(ExecutorConfig(name=name, targets=targets, tags=tags))
    if work_dir is None:
        return
    # why: without this the executor starts, joins the shared pool and fails every run it takes
    if not os.path.exists(work_dir):
        raise InvalidInput(f"--work-dir {work_dir}: no such directory")
    if not os.path.isdir(work_dir):
        raise InvalidInput(f"--work-dir {work_dir}: not a directory")


def _pid_alive(pid: int) -> bool:
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


def already_online(info: ExecutorInfo, now: datetime) -> str:
    """The one line that refuses a second executor under a live executor's name."""
    ttl = max(1, math.ceil(TTL_INTERVALS * info.interval_s))
    age = (now - info.seen_at).total_seconds() if info.seen_at else 0.0
    left = min(ttl, max(1, math.ceil(ttl - age)))
    where = f"{info.hostname or '?'} pid {info.pid or '?'}"
    since = f" since {utc(info.started_at)}" if info.started_at else ""
    return (
        f"executor {info.name!r} is already online on {where}{since} (last heartbeat "
        f"{duration(max(age, 0.0))} ago): stop it or choose another --name; if it crashed, "
        f"its heartbeat expires within {left}s, or pass --replace"
    )


async def claim_name(nc: Client, name: str, *, replace: bool) -> str | None:
    """InvalidInput if `name` is online elsewhere; a note to print when we take over a leftover."""
    if replace:
        return None
    info = await heartbeats.get(nc, name)
    if info is None:
        return None
    # why: a crash on this very host is certain from the pid; elsewhere only the TTL can tell
    if crashed_here(info, socket.gethostname(), _pid_alive):
        return f"executor {name!r}: its last holder (pid {info.pid} on this host) is gone; taking over"  # fmt: skip
    raise InvalidInput(already_online(info, datetime.now(UTC)))


def startup_line(
    name: str, targets: list[str], tags: list[str], servers: list[str], work_dir: str | None
) -> str:
    """What `jetcron executor` prints once it is connected."""
    parts = [f"targets {', '.join(targets)}"]
    if tags:
        parts.append(f"tags {', '.join(tags)}")
    if work_dir is not None:
        parts.append(f"work dir {os.path.realpath(work_dir)}")
    shown = [_without_userinfo(s) for s in servers]
    return f"executor {name!r} ({'; '.join(parts)}) on {', '.join(shown)}"


def _without_userinfo(url: str) -> str:
    """A server URL without user:password (a startup line lands in log files)."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
