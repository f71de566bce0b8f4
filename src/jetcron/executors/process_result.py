"""What one job process came to: its supervisor's result.json and captured output, read as a
ProcessResult (a failing job is data, not an exception)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec


class ProcessResult(msgspec.Struct, frozen=True, kw_only=True):
    """What happened to one job process; a failing job is data, not an exception."""

    exit_code: int | None
    """The exit status, or None if the child was killed by a signal."""
    signal: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    abandoned: bool = False
    """Stopped by its supervisor because no executor held the run any more (or its supervisor
    died while it ran, and what was left of it was killed)."""
    unknown: bool = False
    """It ran and ended, but how is not known: its supervisor died before recording its exit."""
    not_started: bool = False
    """Its supervisor died before it started the job: nothing ran."""
    given_up: bool = False
    """Abandoned by its supervisor: its executor died or gave no sign of life for orphan_after."""
    reason: str = ""
    """Why it was cancelled or abandoned, as the supervisor recorded it."""
    stdout: str = ""
    """The first `output_cap` bytes of stdout, decoded as UTF-8 with replacement."""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_size: int = 0
    """Bytes written in all (the capture keeps the first `output_cap`)."""
    stderr_size: int = 0
    duration_s: float | None
    """How long the job ran (None: not known, e.g. its supervisor died and it had ended)."""
    pid: int | None = None
    ended_at: float | None = None
    """When the supervisor saw the job end (Unix time; None: not recorded)."""


_NOTED = frozenset({"abandoned", "cut_short", "unknown", "not_started"})
"""Endings whose reason is added to the job's stderr (the job itself could not say it)."""


def read_result(run_dir: Path, cap: int) -> ProcessResult:
    """The supervisor's result.json with the captured output (a missing one: the job is lost)."""
    written = True
    try:
        r = msgspec.json.decode((run_dir / "result.json").read_bytes())
    except (OSError, msgspec.DecodeError):
        r = {"ending": "abandoned", "reason": "the run's supervisor died without a result"}
        written = False
    out, out_size = _capture(run_dir / "stdout", cap)
    err, err_size = _capture(run_dir / "stderr", cap)
    ending = r.get("ending", "exited")
    if ending in _NOTED and r.get("reason"):
        err = (err + "\n" if err else "") + f"jetcron: {r['reason']}"
    return ProcessResult(
        exit_code=r.get("exit_code"), signal=r.get("signal"),
        timed_out=ending == "timed_out", cancelled=ending in ("cancelled", "killed"),
        abandoned=ending in ("abandoned", "cut_short"), given_up=ending == "abandoned" and written,
        unknown=ending == "unknown", not_started=ending == "not_started",
        reason=r.get("reason", ""), stdout=out, stderr=err,
        stdout_truncated=out_size > cap, stderr_truncated=err_size > cap,
        stdout_size=out_size, stderr_size=err_size,
        duration_s=_seconds(r.get("duration_s")), pid=r.get("pid"), ended_at=r.get("ended_at"),
    )  # fmt: skip


def _seconds(value: Any) -> float | None:
    """A duration from result.json (None: not recorded: the supervisor died before it could)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _capture(path: Path, cap: int) -> tuple[str, int]:
    """The first `cap` bytes of an output file as text, and the file's whole size."""
    try:
        with open(path, "rb") as f:
            data = f.read(cap)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return "", 0
    return data.decode("utf-8", errors="replace"), size
