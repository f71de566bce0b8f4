"""What is left of a job whose supervisor died: find it by identity, SIGKILL it, wait until gone.

One rule for every place that finds a supervisor dead without a result: a running executor
(its own job's supervisor, or an adopted one's) and a restarted executor reconciling its
journal. Nothing of the attempt may run on when its outcome is recorded or its trigger is handed
back, or a retry would run beside it.

Without its supervisor (a child subreaper) the job's processes are re-parented to PID 1, so
they are found by identity instead, and pids are reused, so a pid alone never proves one:
- the job's leader: its pid *and* start time (job.json);
- its process group and session (the job started in its own: id = the leader's pid) while
  that id is provably ours: the leader lives, or a member carries the attempt's marker (the
  kernel keeps a pid number from reuse while a group or session of that id exists);
- any process carrying the attempt's marker (`JETCRON_RUN_ID` and `JETCRON_ATTEMPT` in its
  environment, inherited by every descendant, also one that left the group with `setsid`),
  started no earlier than the supervisor.
Each is signalled through a pidfd after its start time is checked again, so a pid reused
since the scan is never hit. A descendant that both left the group and cleared its
environment cannot be told from a stranger and is not touched; one we may not signal (a setuid
program, now another user's) is logged and not waited for.

Before anything is killed, `settle` records how far the attempt got, as the run's result.json
(the supervisor's own is missing), so that whoever reports it (this executor, or the next one
from the journal) reads the same verdict:
- the supervisor's `ended.json`, if it got that far (written the moment the job exited, or its
  timeout or cancel was decided, before it stopped the job's leftovers): the real result;
- `not_started`: no `spawning` file: the job never ran; the run is handed back (it runs once);
- `cut_short`: the job was still running: it is killed, the attempt ends as abandoned;
- `unknown`: the job had ended (its leader is gone) but the supervisor had not written
  `ended.json` (killed within the moment between the job's exit and its reaping, or at the same
  instant as the job, e.g. a cgroup-wide SIGKILL): it did run, but its exit status died with the
  supervisor (its parent: nobody else can read it). The outcome is recorded as unknown and the
  run is never run again: running an ended job twice is worse than not knowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import msgspec

from jetcron.executors.supervisor import (
    ENDED,
    SPAWNING,
    alive,
    proc_start,
    stat_fields,
    write_atomic,
)

log = logging.getLogger(__name__)

_SCAN_PAUSE_S = 0.02
_ROUND_S = 5.0
"""One round of kill-and-look before a warning that something outlives SIGKILL."""


class Mark(msgspec.Struct, frozen=True, kw_only=True):
    """The identity of one attempt's processes, from its journal entry."""

    leader: tuple[int, int | None] | None = None
    """The job's pid and start time (clock ticks since boot), if the supervisor recorded them."""
    not_before: int | None = None
    """The supervisor's start time: nothing started earlier belongs to the attempt."""
    marker: tuple[str, str] | None = None
    """(JETCRON_RUN_ID, JETCRON_ATTEMPT) of the job's environment, if it has them."""


VERDICTS = {
    "not_started": "its supervisor died before it started the job",
    "cut_short": "the run's supervisor died while its job ran; the job was stopped",
    "unknown": "the job ended, but its supervisor died before it recorded the exit status: "
    "the outcome is unknown, and the run is not run again",
}
"""A dead supervisor's attempt, by how far it got: the reason its result gives."""


class Seen(msgspec.Struct, frozen=True, kw_only=True):
    """One live (not zombie) process as /proc shows it."""

    pid: int
    start: int
    pgid: int
    sid: int
    marker: tuple[str, str] | None = None
    """Its environment's (JETCRON_RUN_ID, JETCRON_ATTEMPT), if readable and present."""


def ours(seen: list[Seen], mark: Mark) -> list[Seen]:
    """The processes of `seen` that belong to the attempt `mark` describes (see module doc)."""
    early = mark.not_before
    candidates = [p for p in seen if early is None or p.start >= early]
    marked = [p for p in candidates if mark.marker is not None and p.marker == mark.marker]
    if mark.leader is None:
        return marked
    pid, start = mark.leader
    leader = [p for p in candidates if p.pid == pid and p.start == start]
    # why: the group/session id is this job's only while the leader lives or a marked member
    # holds it; otherwise the number may have been reused by a stranger's group.
    held = bool(leader) or any(pid in (p.pgid, p.sid) for p in marked)
    grouped = [p for p in candidates if held and pid in (p.pgid, p.sid)]
    found = {p.pid: p for p in (*leader, *grouped, *marked)}
    return [found[k] for k in sorted(found)]


def mark_of(run_dir: Path) -> Mark:
    """The attempt's identity as its journal entry records it (spec.json, job.json)."""
    leader = not_before = marker = None
    with contextlib.suppress(OSError, msgspec.DecodeError, KeyError, TypeError, ValueError):
        info = msgspec.json.decode((run_dir / "job.json").read_bytes())
        leader = (int(info["job"][0]), info["job"][1])
        not_before = info["supervisor"][1]
    with contextlib.suppress(OSError, msgspec.DecodeError, AttributeError):
        env = msgspec.json.decode((run_dir / "spec.json").read_bytes()).get("env") or {}
        if "JETCRON_RUN_ID" in env and "JETCRON_ATTEMPT" in env:
            marker = (env["JETCRON_RUN_ID"], env["JETCRON_ATTEMPT"])
    return Mark(leader=leader, not_before=not_before, marker=marker)


def verdict(run_dir: Path) -> str:
    """How far the attempt of a supervisor that died without a result got (a key of VERDICTS).

    Looked at before anything of it is killed: a job that is gone by then ended by itself (the
    job has its own session: its supervisor's death does not kill it).
    """
    mark = mark_of(run_dir)
    if mark.leader is not None:
        return "cut_short" if alive(*mark.leader) else "unknown"
    if not (run_dir / SPAWNING).exists():
        return "not_started"
    # why: died between the spawn and job.json: only the attempt's marker can still find it;
    # none found means it never ran or already ended, and which of the two is not known.
    return "cut_short" if mark.marker is not None and ours(scan(mark), mark) else "unknown"


def scan(mark: Mark) -> list[Seen]:
    """Every live process of this host not older than the attempt (only their environ is read)."""
    found, me = [], os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        seen = _seen(int(name), mark)
        if seen is not None:
            found.append(seen)
    return found


def _seen(pid: int, mark: Mark) -> Seen | None:
    fields = stat_fields(pid)
    if fields is None or fields[0] == "Z":
        return None  # why: finished; PID 1 here reaps orphans late
    start = int(fields[19])
    if mark.not_before is not None and start < mark.not_before:
        return None  # why: older than the attempt; no need to read its environment
    marker = _marker(pid) if mark.marker is not None else None
    return Seen(pid=pid, start=start, pgid=int(fields[2]), sid=int(fields[3]), marker=marker)


def _marker(pid: int) -> tuple[str, str] | None:
    """(JETCRON_RUN_ID, JETCRON_ATTEMPT) from a process's environment (None: absent or not ours)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None  # why: another user's process: not a job of ours, and not ours to kill
    env = dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    run_id, attempt = env.get(b"JETCRON_RUN_ID"), env.get(b"JETCRON_ATTEMPT")
    if run_id is None or attempt is None:
        return None
    return run_id.decode(errors="replace"), attempt.decode(errors="replace")


def kill(procs: list[Seen]) -> set[int]:
    """SIGKILL each process, only if it is still the one seen (pid and start time).

    The pids we may not signal (a setuid program the job ran, now another user's).
    """
    denied = set()
    for p in procs:
        try:
            fd = os.pidfd_open(p.pid)
        except OSError:
            continue  # why: gone already
        try:
            # why: the pidfd pins the process; checking its start time after opening it
            # means a pid reused since the scan is never signalled.
            if proc_start(p.pid) == p.start:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
        except PermissionError:
            denied.add(p.pid)
        except OSError:
            pass
        finally:
            os.close(fd)
    return denied


def end(run_dir: Path, within: float = _ROUND_S) -> list[int]:
    """Kill what is left of the attempt in `run_dir` until none is left; the pids still alive."""
    mark = mark_of(run_dir)
    if mark.leader is None and mark.marker is None:
        return []  # why: nothing identifies its processes (the job never started)
    deadline, denied = time.monotonic() + within, set[int]()
    while left := [p for p in ours(scan(mark), mark) if p.pid not in denied]:
        if time.monotonic() >= deadline:
            return [p.pid for p in left]
        if refused := kill(left):
            # why: its supervisor could not have stopped it either; waiting would hold the
            # run for good. Said once, loudly.
            log.warning("run in %s: no permission to kill %s; left running", run_dir.name,
                        sorted(refused))  # fmt: skip
            denied |= refused
        time.sleep(_SCAN_PAUSE_S)  # why: looking again also finds what forked meanwhile
    return []


async def settle(run_dir: Path) -> str:
    """A supervisor died without a result: record the verdict as result.json, then end what is
    left of the attempt; the verdict."""
    # why: `kill` first: a supervisor that is still about to spawn (no job.json yet) then does
    # not, whatever our verdict says (it looks at `kill` after writing `spawning`).
    with contextlib.suppress(OSError):
        write_atomic(run_dir / "kill", "its supervisor died")
    result = _ended(run_dir)
    if result is None:
        found = await asyncio.to_thread(verdict, run_dir)
        result = {"ending": found, "reason": VERDICTS[found], "pid": _leader_pid(run_dir)}
        if found == "cut_short":
            # why: it ran until now, when it is stopped; an ended job's duration is unknown
            # (None, never 0 s: that was shown and counted in the statistics)
            result["duration_s"] = ran_for(run_dir)
    found = str(result.get("ending", "exited"))
    try:
        write_atomic(run_dir / "result.json", msgspec.json.encode(result).decode())
    except OSError as err:
        # why: the verdict is found again from the same files by whoever reports the run
        # (the leader stays gone), except that a job we cut short then reads as `unknown`.
        log.warning("run in %s: cannot record its verdict (%s): %s", run_dir.name, found, err)
    await end_leftovers(run_dir)
    return found


def _ended(run_dir: Path) -> dict[str, Any] | None:
    """The supervisor's own word on how the job ended, if it wrote it before it died."""
    try:
        ended = msgspec.json.decode((run_dir / ENDED).read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    return ended if isinstance(ended, dict) else None


def ran_for(run_dir: Path) -> float | None:
    """Seconds since the attempt's job was spawned (`spawning`, else job.json), or None."""
    for name in (SPAWNING, "job.json"):
        with contextlib.suppress(OSError):
            return max(0.0, time.time() - (run_dir / name).stat().st_mtime)
    return None


def _leader_pid(run_dir: Path) -> int | None:
    leader = mark_of(run_dir).leader
    return leader[0] if leader is not None else None


async def end_leftovers(run_dir: Path) -> None:
    """Return only once nothing of the attempt in `run_dir` runs (blocking work in a thread)."""
    while left := await asyncio.to_thread(end, run_dir):
        # why: recording the attempt now could start a retry beside it; a process stuck in
        # the kernel (state D) ignores SIGKILL until it leaves: keep the run in hand until then.
        log.warning("run in %s: processes %s outlive SIGKILL; still waiting", run_dir.name, left)
