"""`jetcron executor` at startup: refuse a missing --work-dir, say who it is."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from jetcron.errors import InvalidInput
from jetcron.executors.config import ExecutorConfig, validate


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
