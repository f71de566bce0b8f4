"""How an attempt ended, whatever ran it: a RunResult (failure is data) and the event recording it.

No I/O here, like attempt.py: the agent stores what these functions return.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from jetcron.domain.definition import RetryPolicy
from jetcron.domain.events import RunCancelled, RunFailed, RunOutput, RunSucceeded, RunTimedOut
from jetcron.executors.attempt import RunRef
from jetcron.executors.failure import FailureClass, classify, is_retryable, retry_delay
from jetcron.executors.process_result import ProcessResult

Outcome = Literal["succeeded", "failed", "timed_out", "cancelled"]
_ERROR_TAIL = 300


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    """How one attempt ended, whatever ran it (a process or an action); failure is data."""

    outcome: Outcome
    exit_code: int | None = None
    failure_class: str = ""
    error: str = ""
    """Why it failed, or why it was cancelled."""
    duration_s: float | None = None
    """How long it ran (None: not known, or it never ran)."""
    output: RunOutput = RunOutput()
    result: Any = None
    """What an action returned (JSON-able)."""
    ended_at: datetime | None = None
    """When the job ended (None: not known yet; `stamped` sets it before the first store)."""


HELD = timedelta(seconds=1)
"""A result stored later than this after its job ended names its end (`ended_at` on the event)."""


def stamped(result: RunResult, now: datetime) -> RunResult:
    """The result with its end time: the supervisor's if it recorded one, else `now`."""
    return result if result.ended_at is not None else msgspec.structs.replace(result, ended_at=now)


def _ended(result: RunResult, now: datetime) -> datetime | None:
    """The end time the event carries: only for a result held back (journal, outage).

    why: stored at once, the envelope's time is the end already; a second time on every run
    event would only cost bytes and decoding."""
    return result.ended_at if held(result, now) else None


def held(result: RunResult, now: datetime, over: timedelta = HELD) -> bool:
    """Whether the result was held back (journal, outage): its job ended `over` before `now`."""
    return result.ended_at is not None and now - result.ended_at > over


HELD_SAID = timedelta(seconds=5)
"""A result stored this long after its job ended is held: the executor says so in one line
(why not HELD: a slow store on a loaded host is no news to an operator)."""


def from_process(result: ProcessResult, *, cancel_reason: str = "") -> RunResult:
    """The RunResult of a finished child process."""
    output = RunOutput(
        stdout=result.stdout,
        stderr=result.stderr,
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        # why: sizes only where output was cut: they tell how much is missing, and cost nothing
        stdout_size=result.stdout_size if result.stdout_truncated else 0,
        stderr_size=result.stderr_size if result.stderr_truncated else 0,
    )
    common: dict[str, Any] = {
        "exit_code": result.exit_code,
        "duration_s": result.duration_s,
        "output": output,
        "ended_at": None
        if result.ended_at is None
        else datetime.fromtimestamp(result.ended_at, UTC),
    }
    if result.unknown:
        # why: it ran to its end, whatever that was: another attempt could run it twice.
        unknown = FailureClass.UNKNOWN.value
        return RunResult(outcome="failed", failure_class=unknown, error=result.reason, **common)
    if result.cancelled:
        return RunResult(outcome="cancelled", error=cancel_reason, **common)
    if result.abandoned:
        # why: its supervisor stopped it, nobody held the run; another attempt may follow.
        error = result.reason or "the job was abandoned"
        return RunResult(
            outcome="failed", failure_class=FailureClass.TRANSIENT.value, error=error, **common
        )
    cls = classify(result)
    if cls is None:
        return RunResult(outcome="succeeded", **common)
    if cls is FailureClass.TIMEOUT:
        return RunResult(outcome="timed_out", failure_class=cls.value, error="timed out", **common)
    return RunResult(
        outcome="failed", failure_class=cls.value, error=describe_exit(result), **common
    )


def describe_exit(result: ProcessResult) -> str:
    """`exited with code 3: <last stderr line>` or `killed by SIGKILL`."""
    if result.signal is not None:
        try:
            head = f"killed by {signal.Signals(result.signal).name}"
        except ValueError:
            head = f"killed by signal {result.signal}"
    else:
        head = f"exited with code {result.exit_code}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return f"{head}: {lines[-1][-_ERROR_TAIL:]}" if lines else head


def rejected(err: Exception) -> RunResult:
    """A job this executor refuses or cannot set up: a permanent failure, never retried."""
    return RunResult(outcome="failed", failure_class=FailureClass.PERMANENT.value, error=str(err))


ResultEvent = RunSucceeded | RunFailed | RunTimedOut | RunCancelled
"""The event that ends an attempt."""


def result_event(
    ref: RunRef,
    result: RunResult,
    *,
    attempt: int,
    tries: int,
    retry: RetryPolicy,
    timeout_s: float | None,
    now: datetime,
) -> tuple[ResultEvent, float | None]:
    """The event that records a result, and the retry delay (None: the run is over, ack it)."""
    common = ref.fields(attempt)
    ended = _ended(result, now)
    if result.outcome == "succeeded":
        return RunSucceeded(
            **common,
            exit_code=result.exit_code,
            duration_s=result.duration_s,
            output=result.output,
            result=result.result,
            ended_at=ended,
        ), None
    if result.outcome == "cancelled":
        return RunCancelled(
            **common,
            reason=result.error or "cancelled",
            duration_s=result.duration_s,
            ended_at=ended,
        ), None
    delay = retry_after(result, tries, retry)
    next_at = None if delay is None else now + timedelta(seconds=delay)
    if result.outcome == "timed_out":
        return RunTimedOut(
            **common,
            timeout_s=timeout_s or 0.0,
            duration_s=result.duration_s,
            output=result.output,
            next_retry_at=next_at,
            ended_at=ended,
        ), delay
    return RunFailed(
        **common,
        exit_code=result.exit_code,
        failure_class=result.failure_class or "transient",
        error=result.error,
        duration_s=result.duration_s,
        output=result.output,
        next_retry_at=next_at,
        ended_at=ended,
    ), delay


def counter_name(event: ResultEvent) -> str:
    """The stats counter an attempt's end counts in."""
    match event:
        case RunSucceeded():
            return "succeeded"
        case RunFailed():
            return "failed"
        case RunTimedOut():
            return "timed_out"
        case RunCancelled():
            return "cancelled"


def retry_after(result: RunResult, tries: int, retry: RetryPolicy) -> float | None:
    """Seconds until the next try of a failed attempt, or None if it is final."""
    try:
        cls = FailureClass(result.failure_class or "transient")
    except ValueError:
        cls = FailureClass.TRANSIENT
    if not is_retryable(cls) or tries >= retry.max_attempts:
        return None
    return retry_delay(
        tries,
        initial=retry.initial_backoff_s,
        multiplier=retry.multiplier,
        maximum=retry.max_backoff_s,
    )


def jsonable(value: Any) -> Any:
    """`value` if it encodes as JSON, else its repr (an action may return anything)."""
    try:
        msgspec.json.encode(value)
    except (TypeError, ValueError, OverflowError):
        return repr(value)
    return value
