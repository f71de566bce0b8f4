"""`jetcron executor` (and `up`'s executor) at startup: refuse a missing --work-dir or a name
already online, claim the name, say who it is."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from nats.aio.client import Client

from jetcron.cli.text import duration, utc
from jetcron.errors import InvalidInput, NotPermitted
from jetcron.executors import naming
from jetcron.executors.config import ExecutorConfig, validate
from jetcron.executors.naming import Claim, NameHeld
from jetcron.log.heartbeats import ExecutorInfo, ttl_s
from jetcron.log.refusals import refusing


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


def up_config(name: str, allow_shell: bool, data_dir: Path, trusted: list[str]) -> ExecutorConfig:
    """`up`'s local executor: named after the host, serving its name and "default", its
    journal in the data dir."""
    journal = str(data_dir / "executors" / name)
    return ExecutorConfig(
        name=name, targets=[name, "default"], allow_shell=allow_shell, journal_dir=journal,
        trusted_schedulers=trusted,
    )  # fmt: skip


def already_online(info: ExecutorInfo | None, name: str, now: datetime, *, up: bool = False) -> str:
    """The one line that refuses a second executor under a live executor's name (`up`: its
    own executor, which has no --name or --replace: the way out is --no-executor)."""
    if info is None:  # why: the key changed hands on every look (a burst of racers)
        return f"executor {name!r}: another executor is claiming this name right now; try again"
    ttl = ttl_s(info.interval_s)
    age = (now - info.seen_at).total_seconds() if info.seen_at else 0.0
    left = min(ttl, max(1, math.ceil(ttl - age)))
    where = f"{info.hostname or '?'} pid {info.pid or '?'}"
    since = f" since {utc(info.started_at)}" if info.started_at else ""
    how = (
        f"stop it, or start `jetcron up --no-executor`; if it crashed, its heartbeat expires "
        f"within {left}s"
        if up
        else f"stop it or choose another --name; if it crashed, its heartbeat expires within "
        f"{left}s, or pass --replace"
    )
    if age > ttl + 1:
        # why: a heartbeat older than its TTL was written without one (by hand, or forged by
        # another identity): "expires within 1s" would be a promise never kept (newcomer16c)
        way = "start `jetcron up --no-executor`" if up else "pass --replace"
        how = (
            f"its heartbeat outlived its {ttl}s TTL (written without one, not by a jetcron "
            f"executor) and will not expire: if no executor {name!r} runs there, {way}"
        )
    return (
        f"executor {name!r} is already online on {where}{since} (last heartbeat "
        f"{duration(max(age, 0.0))} ago): {how}"
    )


async def claim_name(
    nc: Client, config: ExecutorConfig, *, replace: bool = False, up: bool = False
) -> tuple[Claim, str | None]:
    """Take `config.name` with our first heartbeat (compare-and-set: of two executors started
    at once one wins); InvalidInput naming the holder if it is not ours to take; a note to
    print when we took it from a crash leftover or (--replace) a live executor."""
    me = naming.identity(config, datetime.now(UTC))
    try:
        claim = await refusing(nc, naming.claim(nc, me, replace=replace))
    except NameHeld as err:
        raise InvalidInput(already_online(err.holder, err.name, datetime.now(UTC), up=up)) from None
    except NotPermitted as err:
        raise _not_yours(nc, f"executor name {config.name!r}", err) from None
    return claim, _taken_note(claim)


async def check_targets(nc: Client, config: ExecutorConfig) -> None:
    """InvalidInput naming the first target or tag whose triggers this identity may not take
    (its consumer), before the executor says hello; a consumer not made yet is no refusal."""
    from nats.js.errors import NotFoundError

    from jetcron import subjects
    from jetcron.executors.consumers import bindings

    js = nc.jetstream()
    for b in bindings(config.name, config.targets, config.tags):
        try:
            await refusing(nc, js.consumer_info(subjects.STREAM, b.durable))
        except NotFoundError:
            continue
        except NotPermitted as err:
            target = b.subject.removeprefix(subjects.TRIGGERS[:-1])
            raise _not_yours(nc, f"target {target!r}", err) from None


def _not_yours(nc: Client, what: str, err: NotPermitted) -> InvalidInput:
    """The one line for an executor started as a name or for a target its identity lacks."""
    from jetcron.connect import identity_of

    user = identity_of(nc)
    who = f"identity {user!r}" if user else "this NATS identity"
    mine = (
        f"an executor identity runs under its own name ({user!r}) and serves the targets and "
        f"tags it was added with: `jetcron auth permissions {user}`"
        if user
        else "see `jetcron auth permissions NAME`"
    )
    return InvalidInput(
        f"not permitted: {what}: {who} may not use it (the server refused {err.subject}); {mine}"
    )


async def check_name(nc: Client, config: ExecutorConfig) -> None:
    """`up`: refuse before starting anything if its executor's name is held (no write:
    `claim_name` decides who wins when the executor starts)."""
    try:
        await naming.check(nc, naming.identity(config, datetime.now(UTC)))
    except NameHeld as err:
        raise InvalidInput(
            already_online(err.holder, err.name, datetime.now(UTC), up=True)
        ) from None


def _taken_note(claim: Claim) -> str | None:
    """What to say when the name was someone's: a crash leftover, or replaced on purpose."""
    held, name = claim.took_over, claim.info.name
    if held is None:
        return None
    if claim.leftover:
        return f"executor {name!r}: its last holder (pid {held.pid} on this host) is gone; taking over"  # fmt: skip
    return (
        f"executor {name!r}: replacing the one on {held.hostname or '?'} pid {held.pid or '?'} "
        "(--replace); it stops at its next heartbeat"
    )


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
