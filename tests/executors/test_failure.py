"""Failure classes and retry backoff: pure tables."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from jetcron.executors.failure import FailureClass, classify, is_retryable, retry_delay
from jetcron.executors.process_result import ProcessResult


def result(**fields: Any) -> ProcessResult:
    """A finished process with `fields` over a plain exit 1."""
    return ProcessResult(**{"exit_code": 1, "duration_s": 0.1, **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"exit_code": 0}, None),
        ({"exit_code": 0, "stderr": "No space left on device"}, None),
        ({"exit_code": None, "signal": 9, "timed_out": True}, FailureClass.TIMEOUT),
        ({"exit_code": 0, "timed_out": True}, FailureClass.TIMEOUT),
        ({"exit_code": None, "signal": 15, "cancelled": True}, FailureClass.TRANSIENT),
        ({"exit_code": 127, "stderr": "x: command not found"}, FailureClass.PERMANENT),
        ({"exit_code": 126}, FailureClass.PERMANENT),
        ({"stderr": "write: No space left on device"}, FailureClass.RESOURCE),
        ({"stderr": "open: Too many open files"}, FailureClass.RESOURCE),
        ({"stdout": "fork: Cannot allocate memory"}, FailureClass.RESOURCE),
        ({"stderr": "fork: Resource temporarily unavailable"}, FailureClass.RESOURCE),
        ({"stderr": "CUDA error: out of memory"}, FailureClass.RESOURCE),
        ({"stderr": "Disk quota exceeded"}, FailureClass.RESOURCE),
        ({"exit_code": None, "signal": int(signal.SIGKILL)}, FailureClass.RESOURCE),
        ({"exit_code": 137}, FailureClass.RESOURCE),
        ({"exit_code": None, "signal": int(signal.SIGSEGV)}, FailureClass.TRANSIENT),
        ({"exit_code": 1, "stderr": "connection refused"}, FailureClass.TRANSIENT),
        ({"exit_code": 2}, FailureClass.TRANSIENT),
    ],
    ids=[
        "success",
        "success-despite-marker",
        "timeout",
        "timeout-wins-over-exit-0",
        "cancelled",
        "not-found",
        "not-executable",
        "disk-full",
        "fds",
        "enomem-on-stdout",
        "eagain",
        "oom-any-case",
        "quota",
        "sigkill-oom",
        "shell-137",
        "segfault",
        "plain-error",
        "exit-2",
    ],
)
def test_classify(fields: dict[str, Any], expected: FailureClass | None) -> None:
    assert classify(result(**fields)) == expected


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (FailureClass.TRANSIENT, True),
        (FailureClass.TIMEOUT, True),
        (FailureClass.RESOURCE, True),
        (FailureClass.PERMANENT, False),
        (FailureClass.UNKNOWN, False),
    ],
)
def test_is_retryable(cls: FailureClass, retryable: bool) -> None:
    assert is_retryable(cls) is retryable


def test_failure_class_values_are_stable() -> None:
    assert [c.value for c in FailureClass] == [
        "transient",
        "timeout",
        "resource",
        "permanent",
        "unknown",
    ]


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 10.0), (2, 20.0), (3, 40.0), (4, 60.0), (50, 60.0), (100_000, 60.0)],
)
def test_retry_delay(attempt: int, expected: float) -> None:
    assert retry_delay(attempt, initial=10.0, multiplier=2.0, maximum=60.0) == expected


def test_retry_delay_constant_backoff() -> None:
    assert retry_delay(5, initial=3.0, multiplier=1.0, maximum=60.0) == 3.0


def test_retry_delay_counts_from_one() -> None:
    with pytest.raises(ValueError, match="counts from 1"):
        retry_delay(0, initial=1.0, multiplier=2.0, maximum=60.0)
