"""One writer per store: `jetcron up` holds an exclusive lock on its data dir while it runs.

why: two nats-servers on one JetStream store both start and then fight over it ("Stream state
outdated ... will rebuild", "FileStore usage drift"). The lock is an flock on a file in the
data dir; the kernel drops it when the holder dies, so a killed `up` never leaves a stale
lock behind. The embedded nats-server inherits the locked file, so the store stays locked
until the server itself is gone, even when `up` was SIGKILLed and its server is still
shutting down.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import msgspec

from jetcron.errors import InfrastructureError, InvalidInput

LOCK_FILE = "jetcron.lock"
ORPHAN_WAIT_S = 10.0
"""How long to wait for the nats-server of a dead holder to finish shutting down."""


class Holder(msgspec.Struct, frozen=True, kw_only=True):
    """Who holds the lock (written into the lock file)."""

    pid: int
    port: int | None = None


class DataDirLocked(InvalidInput):
    """Another `jetcron up` (or its nats-server) uses this data dir.

    why: exit 2, as for a taken --port: the operator named a resource in use and fixes it the
    same way (stop the other one, or pick another --data-dir / --port).
    """

    def __init__(self, data_dir: Path, holder: Holder | None, alive: bool) -> None:
        self.data_dir, self.holder = data_dir, holder
        who = "pid ?, port ?" if holder is None else f"pid {holder.pid}, port {holder.port}"
        if alive or holder is None:
            detail = f"is in use by another `jetcron up` ({who})"
        else:
            detail = f"is still held by the nats-server of a `jetcron up` that died ({who})"
        super().__init__(
            f"data dir {data_dir} {detail}; stop it, or use another --data-dir "
            "(or point at it with --server)"
        )


class DataDirLock:
    """An exclusive, non-blocking flock on `<data_dir>/jetcron.lock` holding our pid and port."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(
        self, port: int | None = None, *, orphan_wait: float = ORPHAN_WAIT_S
    ) -> DataDirLock:
        """Take the lock or raise DataDirLocked naming the holder."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + orphan_wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = read_holder(self.path)
                alive = holder is None or _alive(holder.pid)
                # why: a dead holder's nats-server (it inherited the lock) exits on its own soon
                if alive or time.monotonic() > deadline:
                    os.close(fd)
                    raise DataDirLocked(self.data_dir, holder, alive) from None
                time.sleep(0.1)
        self._fd = fd
        self.update(port)
        return self

    def update(self, port: int | None) -> None:
        """Write our pid and (now known) port into the lock file."""
        if self._fd is None:
            raise InfrastructureError(f"{self.path} is not locked by us")
        data = msgspec.json.encode(Holder(pid=os.getpid(), port=port))
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data + b"\n", 0)

    def fileno(self) -> int:
        """The locked descriptor (hand it to the nats-server so the lock lives as long as it)."""
        if self._fd is None:
            raise InfrastructureError(f"{self.path} is not locked by us")
        return self._fd

    def release(self) -> None:
        """Close our descriptor; the lock is gone once no process holds the file open."""
        fd, self._fd = self._fd, None
        if fd is not None:
            # why: close, not LOCK_UN: an unlock would also free it for a child still running
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self if self._fd is not None else self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def read_holder(path: Path) -> Holder | None:
    """The holder written in a lock file (None if empty or unreadable)."""
    with contextlib.suppress(OSError, msgspec.DecodeError):
        data = path.read_bytes().strip()
        return msgspec.json.decode(data, type=Holder) if data else None
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # why: it exists, it is just not ours
    return True


@contextlib.contextmanager
def undone_on_failure(data_dir: Path) -> Iterator[None]:
    """If the body raises, remove what it created of `data_dir`: the dir itself (and the
    parents made for it) when it did not exist, else only the entries that are new.

    why: a `jetcron up` that cannot start (a taken port) must not leave a half-made store that
    the next attempt, or an operator, mistakes for a log; an existing data dir loses nothing.
    """
    top = _topmost_missing(data_dir)
    before = set() if top is not None else {p.name for p in data_dir.iterdir()}
    try:
        yield
    except BaseException:
        if top is not None:
            shutil.rmtree(top, ignore_errors=True)
        else:
            for entry in data_dir.iterdir():
                if entry.name not in before:
                    _remove(entry)
        raise


def _topmost_missing(path: Path) -> Path | None:
    """The outermost of `path` and its parents that does not exist yet (None: path exists)."""
    if path.exists():
        return None
    path = path.absolute()
    while not path.parent.exists():
        path = path.parent
    return path


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)
