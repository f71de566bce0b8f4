"""Failure classes of a finished process and the retry backoff: pure functions."""

from __future__ import annotations

import enum
import signal

from jetcron.executors.process_result import ProcessResult

# why: lowercase, matched case-insensitively; these are the strerror texts (and common
# wordings) a program prints when the host, not the job, ran out of something.
RESOURCE_MARKERS = (
    "no space left on device",
    "too many open files",
    "cannot allocate memory",
    "resource temporarily unavailable",
    "out of memory",
    "disk quota exceeded",
)
_NOT_EXECUTABLE = 126
_NOT_FOUND = 127
_SHELL_SIGKILL = 128 + signal.SIGKILL


class FailureClass(enum.StrEnum):
    """Why a run failed, as far as it decides retrying."""

    TRANSIENT = "transient"
    TIMEOUT = "timeout"
    RESOURCE = "resource"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"
    """The job ran and ended, but how is not known (its supervisor died before recording its
    exit status): never retried, it may well have done its work."""


def classify(result: ProcessResult) -> FailureClass | None:
    """The failure class of a result, or None if the run succeeded."""
    if result.timed_out:
        return FailureClass.TIMEOUT
    if result.cancelled:
        # why: the executor cancels to hand work back (shutdown); an operator's cancel is
        # decided by the caller before it asks for a class.
        return FailureClass.TRANSIENT
    if result.exit_code == 0:
        return None
    if result.exit_code in (_NOT_EXECUTABLE, _NOT_FOUND):
        return FailureClass.PERMANENT
    if _mentions_resource(result.stderr) or _mentions_resource(result.stdout):
        return FailureClass.RESOURCE
    # why: a SIGKILL we did not send (no timeout) is most likely the OOM killer; a shell
    # wrapping the killed program reports it as exit status 137.
    if result.signal == signal.SIGKILL or result.exit_code == _SHELL_SIGKILL:
        return FailureClass.RESOURCE
    return FailureClass.TRANSIENT


def _mentions_resource(output: str) -> bool:
    """Whether the output contains a resource-exhaustion message."""
    lowered = output.lower()
    return any(marker in lowered for marker in RESOURCE_MARKERS)


def is_retryable(cls: FailureClass) -> bool:
    """Whether a failure of this class is worth another attempt."""
    return cls is not FailureClass.PERMANENT and cls is not FailureClass.UNKNOWN


def retry_delay(attempt: int, *, initial: float, multiplier: float, maximum: float) -> float:
    """Seconds to wait before retry `attempt` (1-based): exponential from `initial`, capped."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    try:
        delay = initial * multiplier ** (attempt - 1)
    except OverflowError:
        return maximum
    return min(delay, maximum)
