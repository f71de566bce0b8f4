"""Errors of the executor component."""

from __future__ import annotations

from jetcron.errors import InfrastructureError, InvalidInput


class ResultHeld(InfrastructureError):
    """Stopping: a run's result could not be stored; its journal entry stores it at the next start."""

    def __init__(self, run_id: str, problem: str) -> None:
        self.run_id, self.problem = run_id, problem
        super().__init__(
            f"result of run {run_id} kept in the journal; stored at the next start "
            f"(not stored now: {problem})"
        )


class JobNotAllowed(InvalidInput):
    """The executor's policy refuses this job; the message says how to allow it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ExecutableNotAllowed(JobNotAllowed):
    """The job's executable is not in this executor's allowlist."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        super().__init__(f"`{executable}` is not in this executor's allowlist (--allow)")


class ShellNotAllowed(JobNotAllowed):
    """The job is a shell command and the executor was started without --allow-shell."""

    def __init__(self) -> None:
        super().__init__(
            "shell commands are disabled on this executor (start it with --allow-shell)"
        )


class InvalidCommand(InvalidInput):
    """The job's command is malformed (empty, or both or neither of argv and shell)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InvalidWorkingDir(InvalidInput):
    """The job's working directory is missing or outside the executor's --work-dir."""

    def __init__(self, cwd: str, problem: str) -> None:
        self.cwd = cwd
        self.problem = problem
        super().__init__(f"invalid working directory {cwd!r}: {problem}")
