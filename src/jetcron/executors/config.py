"""An executor's configuration: who it is, what it takes, what it allows."""

from __future__ import annotations

import socket

import msgspec

from jetcron.domain.runs import is_fanout
from jetcron.errors import InvalidInput

_FORBIDDEN = frozenset(" \t\r\n*>/\\")


class ExecutorConfig(msgspec.Struct, kw_only=True):
    """How an executor runs: who it is, what it takes, what it allows."""

    name: str
    targets: list[str]
    """Pools it serves (work queue); usually [name, "default"]."""
    tags: list[str] = []
    """Pools it also serves, and fan-out groups `all:<tag>` it belongs to."""
    concurrency: int = 4
    allow: list[str] = []
    """Executables commands may run (empty: any)."""
    allow_shell: bool = False
    work_dir: str | None = None
    """Commands run inside this directory (their cwd is resolved in it)."""
    ack_wait_s: float = 30.0
    drain_timeout_s: float = 30.0
    output_cap: int = 65536
    kill_grace_s: float = 5.0
    heartbeat_s: float = 5.0
    defer_base_s: float = 5.0
    """First backoff of a deferred run; grows with pressure and deferrals."""
    trusted_schedulers: list[str] = []
    """Public nkeys of the scheduler: when given, only triggers signed by one of them run."""
    journal_dir: str | None = None
    """Where runs are journaled so jobs are owned across executor crashes (None: a temporary
    directory, removed at stop: no crash recovery)."""

    @classmethod
    def for_host(
        cls, name: str | None = None, *, tags: list[str] | None = None, **options: object
    ) -> ExecutorConfig:
        """The defaults: named after the host, serving its own name and "default"."""
        name = name or socket.gethostname()
        fields = {"name": name, "targets": [name, "default"], "tags": tags or [], **options}
        return msgspec.convert(fields, cls)


def validate(config: ExecutorConfig) -> None:
    """InvalidInput if a name cannot be part of a subject or consumer name."""
    names = [("name", config.name)]
    names += [("target", t) for t in config.targets] + [("tag", t) for t in config.tags]
    for what, value in names:
        if not value or _FORBIDDEN & set(value):
            raise InvalidInput(f"invalid executor {what} {value!r}: no spaces, '*', '>', '/', '\\'")
        if what != "name" and is_fanout(value):
            raise InvalidInput(f"invalid executor {what} {value!r}: join fan-out groups with tags")
    if config.concurrency < 1:
        raise InvalidInput(f"concurrency must be at least 1, got {config.concurrency}")
