"""`jetcron up`'s eye on its own nats-server's store: a disk that really filled under it.

why: nats-server keeps a stream that hit a critical write error (no space left on device)
refusing appends until it restarts, also once space is free again (measured with a tmpfs,
docs/nats-facts.md). `up` runs that server, so it restarts it once its disk has room again,
and until then says what is wrong and what it will do.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from jetcron.errors import JetcronError
from jetcron.log.errors import STORAGE
from jetcron.server import NatsServer

log = logging.getLogger(__name__)
ROOM = 16 << 20
"""Free bytes on the store's disk that count as room again (a few of nats-server's blocks)."""
SPACING_S = 30.0
"""Least time between two restarts for a stuck store (a disk that keeps filling loops no faster)."""
_WRITE_ERROR = re.compile(r"critical write error: (?:.*: )?(?P<why>[^:]+)$")


@dataclasses.dataclass(frozen=True)
class Seen:
    """What `up` knows of its server's store at one moment."""

    stuck: bool
    """This process's appends to one stream get no ack while nats-server answers (log/stuck.py)."""
    free: int
    """Free bytes on the store's disk."""
    since_restart: float
    """Seconds since `up` last restarted the server for a stuck store (inf: never)."""


def action(seen: Seen) -> str:
    """`wait` (all is well, or said already), `tell` (stuck, no room yet), or `restart`."""
    if not seen.stuck:
        return "wait"
    if seen.free >= ROOM and seen.since_restart >= SPACING_S:
        return "restart"
    return "tell"


def cause(nats: NatsServer, free: int, store: Path) -> str:
    """The one line `health`/`status` give while the store is stuck, from what `up` can see."""
    # why: the server's log is on that disk too, so its `critical write error` line may be lost
    match = _WRITE_ERROR.search(nats.log_tail(200))
    if match:
        why = match.group("why").strip()
    else:
        why = "its disk is full" if free < ROOM else "appends get no ack"
    return (
        f"nats-server cannot write its store: {why} ({_size(free)} free on {store}; a stream "
        "that hit a write error takes no appends until nats-server restarts): free space "
        f"there; jetcron up restarts nats-server once {_size(ROOM)} are free"
    )


class StoreWatch:
    """Told, once a second, whether `up`'s server's store is stuck; restarts it once there is room."""

    def __init__(self, nats: NatsServer, say: Callable[[str], None]) -> None:
        self.nats = nats
        self.say = say
        STORAGE.store = str(nats.data_dir)  # why: health's `log full` row names it
        self._told = False
        self._restarted_at: float | None = None

    def check(self) -> None:
        """Look once (call on the main thread: a restart spawns nats-server)."""
        store = self.nats.data_dir
        free = shutil.disk_usage(store).free
        since = time.monotonic() - self._restarted_at if self._restarted_at else float("inf")
        what = action(Seen(bool(STORAGE.since and STORAGE.stream), free, since))
        if what == "wait":
            self._told = False
            return
        STORAGE.cause = cause(self.nats, free, store)
        if what == "tell" and not self._told:
            self._told = True
            self.say(STORAGE.cause)
        if what == "restart":
            self._restart(free)

    def _restart(self, free: int) -> None:
        self.say(
            f"{_size(free)} free again on {self.nats.data_dir}: restarting nats-server "
            "(its stuck stream takes appends only after a restart)"
        )
        self._restarted_at = time.monotonic()
        self.nats.stop()
        try:
            self.nats.restart()
        except (JetcronError, OSError) as err:  # why: up's supervisor tries again with backoff
            self.say(f"could not restart nats-server: {err}")
            return
        self.say(f"nats-server is back on {self.nats.url} (pid {self.nats.pid})")


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"
