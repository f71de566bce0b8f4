"""Run one job command under its supervisor (its argv, cwd and environment: commands.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from asyncio.subprocess import Process
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from jetcron.executors import supervisor
from jetcron.executors.errors import InvalidCommand, InvalidWorkingDir
from jetcron.executors.leftovers import settle
from jetcron.executors.process_result import ProcessResult, read_result

log = logging.getLogger(__name__)

_SUPERVISOR = Path(supervisor.__file__)
_ADOPTED_POLL_S = 0.1
_KILL_WAIT_S = 5.0
_ROOM_CHECK_S = 1.0


class JobSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What the supervisor runs (spec.json)."""

    argv: list[str]
    cwd: str | None = None
    env: dict[str, str] | None = None
    timeout_s: float | None = None
    grace_s: float = 5.0
    orphan_after_s: float = 0.0
    """How long the job may outlive its executor (or its executor's silence), waiting to be adopted."""
    pulse_s: float = 0.0
    """How often its executor touches `owner` to show it is alive (0: it does not; then only
    the executor's death counts, not its silence)."""
    gated: bool = False
    """Start the job only after the executor says "go" (it claims the run first)."""


class Job:
    """A job under its supervisor (see supervisor.py): start or adopt, cancel, wait, result."""

    def __init__(
        self,
        run_dir: Path,
        sup: tuple[int, int | None],
        pid: int,
        proc: Process | None = None,
        *,
        spec: JobSpec | None = None,
    ) -> None:
        self.run_dir, self.sup, self.pid, self._proc = run_dir, sup, pid, proc
        self.spec = spec or JobSpec(argv=[])
        self.holding: Callable[[], bool] | None = None
        """Whether this executor still holds the run's trigger (None: always); while it does
        not, `owner` is not touched (see _pulse)."""

    @classmethod
    async def start(
        cls, run_dir: Path, spec: JobSpec, claim: Claim | None = None, cap: int = 65536
    ) -> Job | ProcessResult:
        """Spawn the supervisor (which spawns the job); a ProcessResult if it could not start
        (or died before it said so: then its verdict, see leftovers.settle; `cap`: its output).

        With `claim`, the supervisor waits: `claim(supervisor pid)` runs first, and only if it
        returns is the job started; if it raises, nothing runs and the error propagates.
        """
        spec = msgspec.structs.replace(spec, gated=claim is not None)
        log_fd = _prepare(run_dir, spec)
        gate = asyncio.subprocess.PIPE if claim is not None else asyncio.subprocess.DEVNULL
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", str(_SUPERVISOR), str(run_dir),
                stdin=gate, stdout=asyncio.subprocess.PIPE, stderr=log_fd, start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(log_fd)
        try:
            if claim is not None:
                await _open_gate(proc, claim)
            assert proc.stdout is not None
            line = await proc.stdout.readline()
        except BaseException:
            # why: cancelled while the supervisor starts: it must not go on to run the job.
            supervisor.write_atomic(run_dir / "kill", "the executor stopped waiting")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_KILL_WAIT_S):  # why: not wait_for (follow.set_within)
                    await asyncio.shield(proc.wait())
            raise
        if not line.strip():
            await proc.wait()
            if not (run_dir / "result.json").exists():
                # why: it died before it said whether the job started, or just after it ended
                if await settle(run_dir) != "not_started":
                    return read_result(run_dir, cap)
            return _spawn_failure(run_dir, spec)
        sup = (proc.pid, supervisor.proc_start(proc.pid))
        return cls(run_dir, sup, int(line), proc, spec=spec)

    @classmethod
    def adopt(cls, run_dir: Path) -> Job | None:
        """Take over a job whose executor died (None if its supervisor is gone too)."""
        try:
            info = msgspec.json.decode((run_dir / "job.json").read_bytes())
        except (OSError, msgspec.DecodeError):
            return None
        (sup_pid, sup_start), (pid, _) = info["supervisor"], info["job"]
        if not supervisor.alive(sup_pid, sup_start):
            return None
        claim(run_dir)
        try:
            spec = msgspec.json.decode((run_dir / "spec.json").read_bytes(), type=JobSpec)
        except (OSError, msgspec.DecodeError):
            spec = None  # why: it started without a pulse rule; only our death counts
        return cls(run_dir, (sup_pid, sup_start), pid, spec=spec)

    def cancel(self, reason: str, *, now: bool = False) -> None:
        """Ask the supervisor to stop the job (with its grace period, or `now`)."""
        supervisor.write_atomic(self.run_dir / ("kill" if now else "cancel"), reason or "cancelled")
        if supervisor.alive(*self.sup):
            with contextlib.suppress(OSError):
                os.kill(self.sup[0], signal.SIGUSR1)  # why: wake it now (it also polls)

    async def wait(self) -> None:
        """Until the supervisor has finished (the job and its descendants are gone)."""
        if self._proc is not None:
            await self._proc.wait()
            return
        # why: an adopted supervisor is not our child: nothing to await but its pid.
        while supervisor.alive(*self.sup):  # noqa: ASYNC110
            await asyncio.sleep(_ADOPTED_POLL_S)

    async def supervise(
        self,
        cancel: asyncio.Event | None,
        on_start: Callable[[int], None] | None,
        cap: int,
        reason: Callable[[], str] | None = None,
    ) -> ProcessResult:
        """Report the start, wait for the end (forwarding `cancel` and its `reason`), read the result.

        A supervisor that died without a result leaves the job running on its own: what is
        left of it is killed, and this returns only once it is gone (its result: abandoned).
        """
        try:
            if on_start is not None:
                on_start(self.pid)
            await self._until_done(cancel, reason)
        except BaseException:
            # why: our caller is going away; leave no job behind and do not wait for a grace.
            self.cancel("the executor stopped waiting", now=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_KILL_WAIT_S):  # why: not wait_for (follow.set_within)
                    await asyncio.shield(self.wait())
            raise
        if not (self.run_dir / "result.json").exists():
            # why: our caller records this attempt next, and a retry may follow at once: nothing
            # of it may still run by then (two copies of one run); and a job that ended must
            # not be retried as if it had not (leftovers.settle).
            await settle(self.run_dir)
        return read_result(self.run_dir, cap)

    async def _until_done(
        self, cancel: asyncio.Event | None, reason: Callable[[], str] | None
    ) -> None:
        done = asyncio.ensure_future(self.wait())
        pulse = asyncio.ensure_future(self._pulse())
        room = asyncio.ensure_future(self._result_waits())
        cancelled = asyncio.ensure_future(cancel.wait() if cancel else asyncio.Event().wait())
        try:
            await asyncio.wait({done, cancelled}, return_when=asyncio.FIRST_COMPLETED)
            if not done.done():
                # why: the supervisor records the reason with the result: it reaches the log
                # also when this attempt is reported by a later executor (adopted, journal).
                self.cancel((reason() if reason is not None else "") or "cancelled")
            await done
        finally:
            for task in (done, pulse, room, cancelled):
                task.cancel()
            await asyncio.gather(done, pulse, room, cancelled, return_exceptions=True)

    async def _result_waits(self) -> None:
        """Say once that the job ended but its result waits for room on the journal's disk.

        why: the supervisor keeps a result the disk refused and writes it once there is room
        (supervisor._write_until_stored); its half-written `result.json.tmp`, left for two
        looks in a row, is how it shows it is waiting, since it can write nothing else.
        """
        tmp, result = self.run_dir / "result.json.tmp", self.run_dir / "result.json"
        seen = False
        while True:
            await asyncio.sleep(_ROOM_CHECK_S)
            waiting = tmp.exists() and not result.exists()
            if waiting and seen:
                log.warning(
                    "journal full: the result of run %s waits for disk space on %s (its job "
                    "ended; its supervisor keeps the result and writes it once there is room)",
                    self.run_dir.name, self.run_dir.parent,
                )  # fmt: skip
                return
            seen = waiting

    async def _pulse(self) -> None:
        """Touch `owner` every pulse_s while this event loop runs and `holding` says the run's
        trigger is still ours: the supervisor's sign of life.

        After a silence of orphan_after (the process was stopped, its loop stuck, or its hold
        on the trigger lapsed) it stops for good: the supervisor gives the job up, or will at
        its next look.
        """
        every, limit = self.spec.pulse_s, self.spec.orphan_after_s
        if every <= 0 or limit <= 0:
            return
        owner, last, lapsed = self.run_dir / "owner", time.monotonic(), False
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            if now - last >= limit:
                # why: the same rule as the supervisor's, seen from here: a next attempt may
                # start elsewhere soon (or has), so a late touch must not keep this copy alive.
                why = "could not keep its trigger" if lapsed else "gave no sign of life"
                log.warning("run in %s: this executor %s for %.1fs; its supervisor stops "
                            "the job", self.run_dir.name, why, now - last)  # fmt: skip
                return
            lapsed = self.holding is not None and not self.holding()
            if lapsed:
                continue  # why: no touch while the trigger may be redelivered (see _pulse)
            with contextlib.suppress(OSError):
                os.utime(owner)
            last = now


_ATTEMPT_FILES = "result.json result.json.tmp ended.json job.json spawning kill cancel".split()
"""What one attempt's supervisor (or its verdict) leaves in the run's directory."""


def _prepare(run_dir: Path, spec: JobSpec) -> int:
    """Write the run's journal entry (spec, owner); the fd of the supervisor's own log."""
    # why: small local files, no fsync: cheaper inline than a thread hop on the start path.
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in _ATTEMPT_FILES:
        # why: an earlier attempt's entry kept after an error: its `kill` would stop this one
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()
    supervisor.write_atomic(run_dir / "spec.json", msgspec.json.encode(spec).decode())
    claim(run_dir)
    return os.open(run_dir / "supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)


Claim = Callable[[int], Awaitable[None]]


async def _open_gate(proc: Process, claim: Claim) -> None:
    """Claim the run, then tell the waiting supervisor to start the job (or not to)."""
    assert proc.stdin is not None
    try:
        await claim(proc.pid)
    except BaseException:
        proc.stdin.close()  # why: EOF instead of "go": the supervisor exits without a job
        await proc.wait()
        raise
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    proc.stdin.close()


def claim(run_dir: Path) -> None:
    """Make this process the run's owner (the supervisor watches it), one that pulses."""
    me = os.getpid()
    owner = f"{me} {supervisor.proc_start(me)}"
    # why: `pulses` names the owner that touches `owner`; an executor from before 0.2.0 that
    # adopts the job rewrites `owner` only, and is then watched by its pid (never "silent")
    supervisor.write_atomic(run_dir / supervisor.PULSES, owner)
    supervisor.write_atomic(run_dir / "owner", owner)


def _spawn_failure(run_dir: Path, spec: JobSpec) -> ProcessResult:
    """The job never started: like a shell (126/127), or InvalidWorkingDir for a bad cwd."""
    try:
        r = msgspec.json.decode((run_dir / "result.json").read_bytes())
    except (OSError, msgspec.DecodeError) as err:
        raise OSError(f"the run's supervisor did not start: {err}") from err
    if r.get("spawn_error") == "cwd":
        raise InvalidWorkingDir(spec.cwd or ".", r.get("error", "cannot enter it"))
    if r.get("spawn_error"):
        raise OSError(r.get("error", "cannot start the job"))  # why: a host fault, not the job's
    if r.get("ending") == "not_started":
        reason = r.get("reason") or "its supervisor did not start the job"
        return ProcessResult(exit_code=None, not_started=True, reason=reason, duration_s=None)
    return ProcessResult(exit_code=r.get("exit_code"), stderr=r.get("error", ""), duration_s=None)


async def run_process(
    argv: list[str],
    *,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    # why: the job's own time limit, enforced by its supervisor (also across executor
    # restarts), not a wrapper deadline a caller's asyncio.timeout() could give.
    timeout: float | None = None,  # noqa: ASYNC109
    grace: float = 5.0,
    output_cap: int = 65536,
    cancel: asyncio.Event | None = None,
    on_start: Callable[[int], None] | None = None,
    run_dir: Path | None = None,
    orphan_after: float = 0.0,
    claim: Claim | None = None,
    cancel_reason: Callable[[], str] | None = None,
    holding: Callable[[], bool] | None = None,
) -> ProcessResult:
    """Run `argv` under a supervisor; on timeout or `cancel` it stops the job's whole tree.

    `run_dir` is the run's journal entry (kept for the caller); without one a temporary
    directory is used and removed, and the job dies with this process (`orphan_after` 0).
    `holding`: whether the run is still ours; a silence of `orphan_after` in it stops the job
    like a silence of this process.
    """
    if not argv or not argv[0]:
        raise InvalidCommand("the command is empty")
    temp = run_dir is None
    where = Path(tempfile.mkdtemp(prefix="jetcron-run-")) if run_dir is None else run_dir
    spec = JobSpec(
        argv=argv, cwd=cwd, env=env, timeout_s=timeout, grace_s=grace, orphan_after_s=orphan_after,
        pulse_s=supervisor.pulse_every(orphan_after) if orphan_after > 0 else 0.0,
    )  # fmt: skip
    try:
        job = await Job.start(where, spec, claim, output_cap)
        if isinstance(job, ProcessResult):
            return job
        job.holding = holding
        return await job.supervise(cancel, on_start, output_cap, cancel_reason)
    finally:
        if temp:
            shutil.rmtree(where, ignore_errors=True)
