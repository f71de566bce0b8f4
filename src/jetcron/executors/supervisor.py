"""The per-run supervisor: owns one job's life, also while its executor is dead.

Runs as its own small process (`python -I -S supervisor.py RUN_DIR`, stdlib only, so it
starts in ~15 ms and needs nothing from the executor's environment), in its own session, as
a child subreaper: every descendant of the job that is orphaned (daemonizing tools, `setsid`)
is re-parented to it, so nothing escapes. Everything it knows is a file in RUN_DIR:

  spec.json    written by the executor: argv, cwd, env, timeout, grace, orphan_after, pulse,
               gated (gated: wait for "go" on stdin, sent once the run is claimed in the log)
  owner        "pid starttime" of the executor that holds the run (rewritten on adoption);
               the executor touches it every `pulse_s` while its event loop runs
  spawning     written here just before the job is spawned (no such file: it never started)
  job.json     written here: this supervisor's and the job's pid and start time
  stdout/err   the job's output, straight to files (a dead executor loses none of it)
  ended.json   written here the moment the job exited (or its timeout, cancel or abandonment
               was decided), before its leftovers are stopped: result.json's content so far
  cancel       created by the executor: stop the job (its text is the reason); `kill`: now
  result.json  written here, atomically, when the job and all its descendants are gone (on a
               full disk: retried every second, the result kept in memory meanwhile); or by
               the executor for a supervisor that died without one (leftovers.settle)

It enforces the timeout itself, from its own start, so a timeout holds across executor
restarts. Its owner shows it is alive by touching `owner`; an owner that gave no sign of life
for `orphan_after` seconds is gone, whether it died or is still there but stopped answering
(SIGSTOP, a debugger, a swap stall, a stuck event loop, a paused container): then, unless a
new owner (a restarted executor adopting the run) took the file over meanwhile, it stops the
job and reports `abandoned`, which the executor sizes to end well before JetStream can
redeliver the trigger elsewhere (its frozen owner sends no in-progress acks either).

Test hook (off unless set; read here only): JETCRON_TEST_PAUSE_BEFORE_SPAWN=<path>: if that
file exists when the job is about to be spawned, it is removed and this process SIGSTOPs
itself, so a test can SIGKILL a supervisor at exactly that moment (tests/executors).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:  # why: importing typing costs every job ~5 ms of start-up
    from typing import Any

POLL_S = 0.02
OWNER_CHECK_S = 0.25
PULSES = "pulses"
"""File naming the owner (`pid start`, as `owner`) that pulses; another owner is watched by pid."""
"""Longest pause between two looks at the owner (shorter for a short `orphan_after`)."""
PULSES_PER_ORPHAN = 4
"""An owner touches `owner` this many times per `orphan_after` (at most once a second)."""
KILL_WAIT_S = 1.0
AFTER_EXIT_GRACE_S = 0.5
"""Descendants a job leaves behind get this long after SIGTERM before SIGKILL."""
_PR_SET_CHILD_SUBREAPER = 36
SPAWNING = "spawning"
RESULT_RETRY_S = 1.0
"""How often a result the journal's disk refused is tried again."""
_NO_ROOM = frozenset({28, 122})  # ENOSPC, EDQUOT (no errno import: start-up time)
ENDED = "ended.json"
_PAUSE_BEFORE_SPAWN = os.environ.get("JETCRON_TEST_PAUSE_BEFORE_SPAWN", "")


def stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (state, ppid, pgrp, session, ...), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # why: the command name may contain spaces and parentheses; fields follow the last ')'.
    return stat[stat.rindex(")") + 2 :].split()


def proc_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (its identity with the pid), or None."""
    fields = stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return None  # a zombie has finished
    return int(fields[19])


def alive(pid: int, start: int | None) -> bool:
    """True if this exact process (pid and start time) still runs."""
    return start is not None and proc_start(pid) == start


def pulse_every(orphan_after: float) -> float:
    """How often an owner must touch `owner` so that `orphan_after` of silence means it is gone."""
    # why: several pulses per window, so one late pulse (a busy loop) is not yet silence;
    # at most one a second, so a long window costs no more than a stat per second.
    return min(1.0, orphan_after / PULSES_PER_ORPHAN)


def write_atomic(path: Path, data: str) -> None:
    """Write a file so that a reader sees the old content or the whole new one."""
    # why: no fsync: the journal must survive a crash of a process, and the page cache does;
    # a crash of the host kills the job as well, and a torn entry then reads as lost.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(data)
    os.replace(tmp, path)


def _children_map() -> dict[int, list[int]]:
    """ppid -> pids, for every live process."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = stat_fields(int(name))
        if fields is not None and fields[0] != "Z":
            kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`."""
    kids, found, todo = _children_map(), [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Supervisor:
    """One job, from spawn to result.json."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        # why: no typing/contextlib imports here: every import is start-up time of every job
        self.spec: dict[str, Any] = json.loads((run_dir / "spec.json").read_text())
        self.terminated = ""
        self.status: int | None = None
        self.job_pid = 0
        self.overslept = False
        """This process itself was stopped longer than `orphan_after` (see _watch)."""
        self._pidfd: int | None = None
        self._wake_r = -1

    def run(self) -> None:
        """Spawn, watch, stop, report."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        # why: the executor writes `cancel`/`kill` and sends SIGUSR1; the wakeup fd turns that
        # signal into a readable pipe, so the watch loop sleeps instead of polling the files.
        self._wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGUSR1, lambda signum, frame: None)
        _become_subreaper()
        if not self._may_start():
            # why: the executor lost the race to claim the run (or died before it could): no job.
            _write_until_stored(self.dir / "result.json", json.dumps({"ending": "not_started"}))
            _announce("")
            return
        started = time.monotonic()
        job = self._spawn()
        if job is None:
            return
        self.job_pid = job.pid
        self._pidfd = _pidfd(job.pid)
        me = os.getpid()
        job_json = {"supervisor": [me, proc_start(me)], "job": [job.pid, proc_start(job.pid)]}
        try:
            write_atomic(self.dir / "job.json", json.dumps(job_json))
        except OSError:
            pass  # why: the job runs: watch it; only an adoption after a restart needs this file
        _announce(f"{job.pid}\n")
        ending, reason = self._watch(started)
        # why: before its leftovers are stopped (up to the grace): a supervisor killed meanwhile
        # still leaves how the job ended, so it is reported, not guessed (leftovers.settle).
        self._report(ending, reason, time.monotonic() - started, ENDED)
        stop_now = ending == "killed" or ending == "abandoned" and self.overslept
        grace = 0.0 if stop_now else float(self.spec.get("grace_s", 5.0))
        if ending == "exited":
            grace = min(grace, AFTER_EXIT_GRACE_S)
        self._stop_all(grace)
        self._report(ending, reason, time.monotonic() - started)

    def _may_start(self) -> bool:
        """Wait for the executor's "go" (if gated); False if the job must not start."""
        if self.spec.get("gated") and sys.stdin.readline().strip() != "go":
            return False
        if _PAUSE_BEFORE_SPAWN:
            _pause_once(Path(_PAUSE_BEFORE_SPAWN))
        # why: `spawning` before the last look at `kill`: an executor that finds us dead writes
        # `kill` and then looks for `spawning`; no `spawning` then means no job ever (leftovers).
        (self.dir / SPAWNING).touch()
        return not (self.dir / "kill").exists()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.terminated = f"supervisor got signal {signum}"

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        argv, cwd = self.spec["argv"], self.spec.get("cwd")
        try:
            with open(self.dir / "stdout", "wb") as out, open(self.dir / "stderr", "wb") as err:
                return subprocess.Popen(
                    argv, cwd=cwd, env=self.spec.get("env"), stdin=subprocess.DEVNULL,
                    stdout=out, stderr=err, start_new_session=True,
                )  # fmt: skip
        except OSError as exc:
            self._spawn_failed(exc, argv[0], cwd)
            _announce("")
            return None

    def _spawn_failed(self, exc: OSError, program: str, cwd: str | None) -> None:
        # why: report it the way a shell would (127 not found, 126 not executable); a bad
        # cwd is the job's configuration, which the executor reports as invalid input.
        result: dict[str, object]
        if cwd is not None and exc.filename == cwd:
            result = {"spawn_error": "cwd", "error": exc.strerror or "cannot enter it"}
        elif isinstance(exc, FileNotFoundError):
            result = {"exit_code": 127, "error": f"{program}: command not found"}
        elif isinstance(exc, PermissionError) or exc.errno == 8:  # ENOEXEC
            result = {"exit_code": 126, "error": f"{program}: {exc.strerror}"}
        else:
            result = {"spawn_error": "host", "error": f"{program}: {exc.strerror}"}
        _write_until_stored(self.dir / "result.json", json.dumps(result))

    def _watch(self, started: float) -> tuple[str, str]:
        """Until the job exits, times out, is cancelled or abandoned: (ending, reason)."""
        timeout = self.spec.get("timeout_s")
        deadline = started + float(timeout) if timeout else None
        orphan_after = float(self.spec.get("orphan_after_s", 0.0))
        pulse = float(self.spec.get("pulse_s", 0.0)) if orphan_after > 0 else 0.0
        check_every = min(OWNER_CHECK_S, orphan_after / PULSES_PER_ORPHAN or OWNER_CHECK_S)
        owner = OwnerWatch(
            self.dir / "owner", pulse=pulse, look_every=check_every, now=time.monotonic()
        )
        next_owner_check, overslept_at = owner.last_sign, float("-inf")
        while True:
            self._reap()
            if self.status is not None:
                return "exited", ""
            now = time.monotonic()
            if (self.dir / "kill").exists():
                return "killed", _read(self.dir / "kill")
            if (self.dir / "cancel").exists():
                return "cancelled", _read(self.dir / "cancel")
            if self.terminated:
                return "cancelled", self.terminated
            if deadline is not None and now >= deadline:
                return "timed_out", ""
            if now >= next_owner_check:
                if pulse > 0 and now - next_owner_check > orphan_after:
                    overslept_at = now  # why: a look this late means we were stopped too
                next_owner_check = now + check_every
                gone = owner.look(now)
                if gone and now - owner.gone_since() >= orphan_after:
                    # why: stopped with our owner (a paused container, a frozen cgroup): a next
                    # attempt may run by now, so the job gets no grace.
                    self.overslept = overslept_at > owner.last_sign
                    return "abandoned", owner.why(gone, now)
            self._sleep(deadline, next_owner_check)

    def _sleep(self, deadline: float | None, next_check: float) -> None:
        """Until the job exits, a signal arrives, the deadline or the next owner check."""
        until = next_check if deadline is None else min(deadline, next_check)
        timeout = max(0.0, until - time.monotonic())
        if self._pidfd is None:
            time.sleep(min(POLL_S, timeout))
            return
        ready, _, _ = select.select([self._pidfd, self._wake_r], [], [], timeout)
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 512)
            except BlockingIOError:
                pass

    def _reap(self) -> None:
        """Collect every exited child (we are the subreaper), noting the job's status."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.job_pid and self.status is None:
                self.status = status

    def _stop_all(self, grace: float) -> None:
        """SIGTERM the job's group and every descendant, wait `grace`, SIGKILL what is left."""
        self._reap()
        if not _has_children():
            return  # why: as the subreaper, no child means no descendant: nothing to stop
        me = os.getpid()
        self._signal(descendants(me), signal.SIGTERM)
        end = time.monotonic() + grace
        while descendants(me) and time.monotonic() < end:
            self._reap()
            time.sleep(POLL_S)
        end = time.monotonic() + KILL_WAIT_S
        while (left := descendants(me)) and time.monotonic() < end:
            self._signal(left, signal.SIGKILL)
            self._reap()
            time.sleep(POLL_S)
        self._reap()

    def _signal(self, pids: list[int], sig: signal.Signals) -> None:
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        try:
            os.killpg(self.job_pid, sig)  # why: also members forked after the walk
        except OSError:
            pass

    def _report(self, ending: str, reason: str, duration: float, to: str = "result.json") -> None:
        status = self.status
        code = os.waitstatus_to_exitcode(status) if status is not None else None
        result = {
            "exit_code": code if code is not None and code >= 0 else None,
            "signal": -code if code is not None and code < 0 else None,
            "ending": ending,
            "reason": reason,
            "duration_s": duration,
            "pid": self.job_pid,
            # why: the result may be reported much later (journal after a restart, an outage)
            "ended_at": time.time(),
        }
        if to == ENDED:
            try:
                write_atomic(self.dir / to, json.dumps(result))
            except OSError:
                pass  # why: a head start only; the leftovers must be stopped regardless
            return
        _write_until_stored(self.dir / to, json.dumps(result))


def _write_until_stored(path: Path, data: str) -> None:
    """Write the result, retrying while the journal's disk refuses it (full, over quota).

    why: the job has ended and its result exists only in this process: dying here made a
    success `failed: the run's supervisor died without a result` (newcomer18b F4). Alive, we
    are still the run's supervisor: the executor waits for us (and says why), and adopts us
    after a restart; the result is written the moment there is room.
    """
    while True:
        try:
            write_atomic(path, data)
            return
        except OSError as err:
            if err.errno not in _NO_ROOM:
                raise
        time.sleep(RESULT_RETRY_S)


def _pidfd(pid: int) -> int | None:
    """A pollable fd that becomes readable when `pid` exits (Linux >= 5.3), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _has_children() -> bool:
    """Whether this process has any child left (running or not yet reaped)."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


class OwnerWatch:
    """When the run's owner last showed a sign of life, as this supervisor's looks see it."""

    def __init__(self, path: Path, *, pulse: float, look_every: float, now: float) -> None:
        self.path, self.pulse, self.look_every = path, pulse, look_every
        self.last_sign = now
        """Monotonic time of the last look that found the owner alive (and pulsing, if it pulses)."""
        self.died_at: float | None = None
        """The first look that found it dead (None: alive at the last look)."""
        self._stamp = _stamp(path)
        self._looked = now

    def look(self, now: float) -> str:
        """Empty if the owner shows a sign of life now; else "died" or "silent"."""
        # why: a touch is seen as *a change* of the file, timed by our monotonic clock: a
        # wall-clock step (NTP) neither fakes nor hides a pulse.
        stamp = _stamp(self.path)
        changed, self._stamp = stamp != self._stamp, stamp
        previous, self._looked = self._looked, now
        owner = _read(self.path)
        if not _owner_alive(owner):
            self.died_at = self.died_at or now
            return "died"
        self.died_at = None
        # why: an owner that did not name itself in PULSES (an older executor) never pulses
        if changed or not self.pulse or _read(self.path.with_name(PULSES)) != owner:
            # why: a touch happened some time since our previous look: date it then, so a touch
            # made just before we were frozen with our owner does not look fresh when we thaw.
            self.last_sign = previous if changed and self.pulse else now
            return ""
        return "silent"

    def gone_since(self) -> float:
        """Since when (monotonic) the owner has been gone: dead or silent."""
        if self.died_at is None:
            return self.last_sign
        # why: one that pulsed until it died is gone from its death, as a restart that adopts
        # the job within orphan_after of it expects; one silent before it died, from its silence.
        return min(self.died_at, self.last_sign + self.pulse + self.look_every)

    def why(self, gone: str, now: float) -> str:
        """The reason an abandoned job's result gives."""
        if gone == "died":
            return "its executor died and did not come back in time"
        pid = _read(self.path).split()[:1] or ["?"]
        return (
            f"its executor (pid {pid[0]}) gave no sign of life for {now - self.last_sign:.1f}s "
            "(stopped, frozen or stalled)"
        )


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _owner_alive(owner: str) -> bool:
    """Whether the process an `owner` file's text names (`pid start`) is alive."""
    try:
        pid, start = (int(x) for x in owner.split())
    except ValueError:
        return False
    return alive(pid, start)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _announce(line: str) -> None:
    """Tell the executor (our stdout pipe) the job started, then let go of the pipe."""
    try:
        sys.stdout.write(line)
        sys.stdout.flush()
    except OSError:
        pass  # why: the executor may already be gone; the files tell the rest
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    try:
        os.close(1)
    except OSError:
        pass


def _pause_once(flag: Path) -> None:
    """The test hook (module doc): stop here once, if the test asked for it with `flag`."""
    try:
        flag.unlink()
    except OSError:
        return
    os.kill(os.getpid(), signal.SIGSTOP)


def _become_subreaper() -> None:
    """Orphaned descendants re-parent to us instead of PID 1 (Linux; best effort elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    Supervisor(Path(sys.argv[1])).run()
