"""Runs held by an executor whose heartbeat expired: `running?`, and what becomes of them.

why: an executor that dies (kill -9, lost host) holds its runs in its journal; its supervisor
stops the job 0.3 × ack-wait after the executor went silent (README "Jobs across crashes"), but
nothing in the log says so until the executor comes back (its journal reports a job that ended
first) or the run is redelivered or declared lost. Until then `running` would claim a job that
no longer runs (newcomer19b F3): every surface asks this one rule, and says what happens in
`fate`'s words, not that the journal settles it (newcomer20a #4: the job was run again).
"""

from __future__ import annotations

from datetime import datetime

from jetcron.clock import iso_z
from jetcron.projections.hosts import HostsView
from jetcron.projections.runs import IN_HAND, RunRow

STOP_SHARE = 0.3
"""A supervisor stops its job this share of its executor's `--ack-wait` after the executor went
silent: executors/launch.ORPHAN_SHARE (projections may not import executors; a test keeps
the two equal)."""
DEFAULT_ACK_WAIT_S = 30.0
"""`jetcron executor --ack-wait` by default (executors/config.py; a test keeps them equal)."""


def offline_since(hosts: HostsView, row: RunRow) -> datetime | None:
    """When the executor holding this run in flight went offline (its heartbeat expired, or it
    stopped with the run in its journal), if the log says it is offline now; else None."""
    if row.status not in IN_HAND or not row.executor:
        return None
    if hosts.online.get(row.executor) is not False:
        return None
    # why: an offline event older than the run says nothing of it (the executor came back to
    # start it; its online event is on the way)
    if hosts.seq.get(row.executor, 0) < row.seq:
        return None
    return hosts.since.get(row.executor)


def fate(runs: int, ack_wait_s: float | None = None) -> str:
    """What becomes of the `runs` runs an executor held when it went silent; `ack_wait_s`: its
    `--ack-wait` as its online event recorded it (None: not recorded, the default is told)."""
    one = runs == 1
    their, job, run = ("its", "the job", "the run") if one else ("their", "their jobs", "each run")
    return (
        f"unless it is back within {_stop_after(ack_wait_s)} of going silent, {their} "
        f"supervisor stops {job} and {run} is redelivered as the next attempt (lost after "
        "timeout + grace if no executor takes it); a job that ended first keeps its result in "
        "the journal until the executor returns"
    )


def _stop_after(ack_wait_s: float | None) -> str:
    """`0.3 × its ack-wait (3 s)`, or with none recorded `0.3 × ack-wait (9 s by default)`."""
    seconds = STOP_SHARE * (DEFAULT_ACK_WAIT_S if ack_wait_s is None else ack_wait_s)
    told = f"{round(seconds, 1):g} s"
    if ack_wait_s is None:
        return f"{STOP_SHARE:g} × ack-wait ({told} by default)"
    return f"{STOP_SHARE:g} × its ack-wait ({told})"


def note(hosts: HostsView, row: RunRow) -> str:
    """The line that says why the run may not be running, or "" (see offline_since)."""
    since = offline_since(hosts, row)
    if since is None:
        return ""
    when = iso_z(since.replace(microsecond=0))
    return (
        f"executor {row.executor} offline since {when}; {fate(1, hosts.ack_wait.get(row.executor))}"
    )
