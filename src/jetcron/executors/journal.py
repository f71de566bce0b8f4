"""The executor's local journal: one directory per run it holds, kept until the result is stored.

  <root>/.lock            flock: one executor per journal (a dead holder's lock is released)
  <root>/<run_id>/meta.json   the trigger, fan-out flag and attempt (written before the job starts)
  <root>/<run_id>/...         the supervisor's files (spec, owner, job.json, output, result.json)

An entry outlives a crash of the executor; on start the executor reconciles every entry
before it takes new work (see agent.py): a finished job's result is published, a running
one is adopted, a dead one is cleaned up. The entry goes once its final event is stored.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path

import msgspec

from jetcron.errors import InfrastructureError, InvalidInput
from jetcron.executors.supervisor import write_atomic

log = logging.getLogger(__name__)

HOST_CONDITIONS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO})
"""Errors of the host, not of jetcron: said in one line, no traceback."""


class JournalBusy(InvalidInput):
    """Another executor holds this journal directory."""

    def __init__(self, root: Path, holder: str) -> None:
        self.root = root
        super().__init__(
            f"journal {root} is in use by another executor ({holder}); "
            "give each executor on a host its own --name or --journal-dir"
        )


class JournalUnwritable(InfrastructureError):
    """A run cannot be journaled (so it must not start): the disk is full, read-only, ..."""

    def __init__(self, root: Path, run_id: str, err: OSError) -> None:
        self.root, self.run_id = root, run_id
        self.problem = f"journal unwritable: {describe(err)} on {root}"
        what = f"journal run {run_id}" if run_id else "open the journal"
        super().__init__(f"cannot {what}: {describe(err)} on {root}")


def describe(err: OSError) -> str:
    """`no space left on device`, as the OS names an errno (its own text if it has none)."""
    return os.strerror(err.errno).lower() if err.errno else str(err)


class EntryMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What the executor needs to report a run it no longer remembers."""

    trigger: str
    """The trigger's envelope, as it was delivered (JSON)."""
    fanout: bool
    attempt: int


class Entry(msgspec.Struct, frozen=True):
    """One run in the journal."""

    run_id: str
    path: Path
    meta: EntryMeta | None
    """None if the entry is torn (the executor died while writing it)."""

    @property
    def has_result(self) -> bool:
        """The supervisor finished and wrote its result."""
        return (self.path / "result.json").exists()


class Journal:
    """The runs this executor holds, on local disk."""

    def __init__(self, root: Path | None) -> None:
        self._temp = root is None
        self.root = Path(tempfile.mkdtemp(prefix="jetcron-journal-")) if root is None else root
        self._lock: int | None = None
        self.problem = ""
        """Why the last run could not be journaled ("" once one could): for the heartbeat."""

    def open(self, *, quiet: bool = False) -> Journal:
        """Create the directory and take its lock; JournalBusy if another executor has it,
        JournalUnwritable if the host will not let us (`quiet`: a check, say nothing)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            if err.errno not in HOST_CONDITIONS:
                raise
            raise JournalUnwritable(self.root, "", err) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise JournalBusy(self.root, holder) from None
        self._lock = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        except OSError as err:
            if err.errno not in HOST_CONDITIONS:
                raise
            # why: the pid is only for a refused peer's message; the lock is held. Serve, and
            # say it in the heartbeat (the journal's probe clears it), rather than exit.
            if not quiet:
                self._unwritable("", err)
        return self

    @staticmethod
    def check_free(root: Path) -> None:
        """JournalBusy if another executor holds the journal at `root` now (the lock is taken
        and let go at once: a start-up check, so a refused executor says nothing and claims
        nothing first; `open` still decides)."""
        if not (root / ".lock").exists():
            return
        Journal(root).open(quiet=True).close()

    def close(self) -> None:
        """Release the lock (a temporary journal is removed)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        if self._temp:
            shutil.rmtree(self.root, ignore_errors=True)

    def path(self, run_id: str) -> Path:
        """The directory of a run."""
        return self.root / run_id

    def begin(self, run_id: str, meta: EntryMeta) -> Path:
        """Record a run before its job starts; its directory. JournalUnwritable when the
        host will not let us (the run must wait: an unjournaled job could run twice)."""
        path = self.path(run_id)
        try:
            # why: the entry holds the job's environment (its secrets too) and raw output
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(path / "meta.json", msgspec.json.encode(meta).decode())
        except OSError as err:
            if err.errno not in HOST_CONDITIONS:
                raise
            shutil.rmtree(path, ignore_errors=True)
            raise self._unwritable(run_id, err) from err
        self._writable()
        return path

    def not_started(self, run_id: str, meta: EntryMeta, reason: str) -> None:
        """Keep that an attempt's job was not started (its claim may be in the log, its ack
        lost): the entry with a `not_started` result, which whoever settles it next (the
        redelivery here, or recovery after a restart) records as `run.handed_back` if the
        claim is in the log (Recovery.report). If the host will not let us, said once; the
        claim then reads as an attempt abandoned."""
        path = self.path(run_id)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not (path / "meta.json").exists():
                write_atomic(path / "meta.json", msgspec.json.encode(meta).decode())
            ending = {"ending": "not_started", "reason": reason}
            write_atomic(path / "result.json", msgspec.json.encode(ending).decode())
        except OSError as err:
            if err.errno not in HOST_CONDITIONS:
                raise
            shutil.rmtree(path, ignore_errors=True)
            self._unwritable(run_id, err)

    def check(self) -> str:
        """The journal's problem now: while one is known, a probe write sees whether it has
        cleared (why: no trigger may come to find out, and the heartbeat would say it forever)."""
        if self.problem:
            probe = self.root / ".probe"
            try:
                write_atomic(probe, "probe\n")
                probe.unlink()
            except OSError:
                with contextlib.suppress(OSError):
                    probe.with_name(".probe.tmp").unlink()
                return self.problem
            self._writable()
        return self.problem

    def _unwritable(self, run_id: str, err: OSError) -> JournalUnwritable:
        failure = JournalUnwritable(self.root, run_id, err)
        if failure.problem != self.problem:
            # why: one line per new condition, not one per redelivery (every few seconds)
            then = "the run waits until it can be (redelivered)" if run_id else "runs wait"
            log.error("%s; %s", failure, then)
        self.problem = failure.problem
        return failure

    def _writable(self) -> None:
        if self.problem:
            log.warning("journal %s writable again (was: %s)", self.root, self.problem)
        self.problem = ""

    def get(self, run_id: str) -> Entry | None:
        """The entry of a run, if there is one."""
        path = self.path(run_id)
        return self._entry(path) if path.is_dir() else None

    def entries(self) -> list[Entry]:
        """Every run in the journal."""
        return [self._entry(p) for p in sorted(self.root.iterdir()) if p.is_dir()]

    def end(self, run_id: str) -> None:
        """Forget a run: its final event is stored (or it was handed back)."""
        shutil.rmtree(self.path(run_id), ignore_errors=True)

    @staticmethod
    def _entry(path: Path) -> Entry:
        meta = None
        with contextlib.suppress(OSError, msgspec.DecodeError):
            meta = msgspec.json.decode((path / "meta.json").read_bytes(), type=EntryMeta)
        return Entry(path.name, path, meta)
