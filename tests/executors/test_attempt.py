"""The pure core of a run: history, gates, admission decisions and result events."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jetcron import subjects
from jetcron.domain.definition import Conditions, Job, RetryPolicy
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import (
    RunCancelled,
    RunCancelRequested,
    RunDeferred,
    RunFailed,
    RunLost,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunTriggered,
)
from jetcron.executors import attempt as run_attempt
from jetcron.executors import results as run_results
from jetcron.executors.admission import Verdict
from jetcron.executors.attempt import (
    Admit,
    CancelNow,
    Defer,
    Expire,
    Finished,
    Go,
    NotYet,
    RunHistory,
    admit,
    gate,
    summarize,
)
from jetcron.executors.process_result import ProcessResult
from jetcron.executors.results import RunResult, result_event

T0 = datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
TRIGGER = RunTriggered(
    schedule_id="s1",
    name="backup.db",
    fire_id="s1:v1:20260329T020000Z",
    fire_time=T0,
    run_id="r1",
    version=1,
    target="default",
    job=Job(command=["true"]),
)
REF = run_attempt.run_ref(TRIGGER, "pi", fanout=False)
RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=10, multiplier=2, max_backoff_s=600)


def stored(*events: Any, at: datetime = T0) -> list[StoredEvent]:
    def subject(e: Any) -> str:
        # why: the scheduler writes lost and cancel requests, on its own subject
        by_scheduler = isinstance(e, RunLost | RunCancelRequested)
        return subjects.run_by_scheduler(REF.name, REF.run_id) if by_scheduler else REF.subject

    return [
        StoredEvent(
            i, subject(e), Envelope(id=str(i), at=at + timedelta(seconds=i), actor="t", event=e)
        )
        for i, e in enumerate(events, start=1)
    ]


BY_PI: dict[str, Any] = {"started_by": "pi", "started_at": T0 + timedelta(seconds=1)}
"""Who started the last attempt, and when (the first event `stored` makes is at T0 + 1 s)."""


def started(attempt: int = 1) -> RunStarted:
    return RunStarted(**REF.fields(attempt))


def failed(attempt: int = 1, retry_at: datetime | None = None) -> RunFailed:
    return RunFailed(**REF.fields(attempt), next_retry_at=retry_at)


def deferred(n: int) -> RunDeferred:
    return RunDeferred(**REF.fields(1), reason="busy", deferrals=n)


# -- refs and vars -----------------------------------------------------------------------------


def test_fanout_run_id_carries_the_executor() -> None:
    ref = run_attempt.run_ref(TRIGGER, "reef.pi", fanout=True)
    assert (ref.run_id, ref.trigger_run_id, ref.subject) == (
        "r1-reef~pi",
        "r1",
        "jetcron.run.backup~db.r1-reef~pi.default.reef~pi",
    )


def test_run_vars() -> None:
    assert run_attempt.run_vars(REF, 2) == {
        "JETCRON_RUN_ID": "r1",
        "JETCRON_SCHEDULE": "backup.db",
        "JETCRON_FIRE_TIME": "2026-03-29T02:00:00Z",
        "JETCRON_ATTEMPT": "2",
        "JETCRON_EXECUTOR": "pi",
    }


# -- history and gates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([], RunHistory(), id="empty"),
        pytest.param(
            [started(), failed(1, T0)],
            RunHistory(started=1, failures=1, not_before=T0, recorded=1, **BY_PI),
            id="retrying",
        ),
        pytest.param(
            [started(), failed(1)],
            RunHistory(started=1, finished=True, recorded=1, **BY_PI),
            id="failed-final",
        ),
        pytest.param(
            [started(), RunSucceeded(**REF.fields(1))],
            RunHistory(started=1, finished=True, **BY_PI),
            id="ok",
        ),
        pytest.param([started()], RunHistory(started=1, **BY_PI), id="lost-attempt"),
        pytest.param([RunLost(**REF.fields(1))], RunHistory(finished=True), id="lost"),
        pytest.param(
            [RunCancelRequested(schedule_id="s1", name="backup.db", run_id="r1", reason="overlap")],
            RunHistory(cancel_reason="cancel requested: overlap"),
            id="cancel-requested",
        ),
    ],
)
def test_summarize(events: list[Any], expected: RunHistory) -> None:
    assert summarize(stored(*events)) == expected


def test_deferrals_count_since_the_last_start() -> None:
    h = summarize(
        stored(deferred(1), deferred(2), started(), failed(1, T0), deferred(1), deferred(2))
    )
    assert (h.deferrals, h.first_deferral_at, h.attempt, h.tries) == (
        2,
        T0 + timedelta(seconds=5),
        2,
        2,
    )


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param(RunHistory(), Go(), id="fresh"),
        pytest.param(RunHistory(finished=True, cancel_reason="x"), Finished(), id="finished-wins"),
        pytest.param(RunHistory(cancel_reason="x"), CancelNow("x"), id="cancel"),
        pytest.param(
            RunHistory(not_before=T0 + timedelta(seconds=30)), NotYet(30.0), id="early-retry"
        ),
        pytest.param(
            RunHistory(not_before=T0 + timedelta(seconds=0.5)), Go(), id="retry-within-tolerance"
        ),
    ],
)
def test_gate(history: RunHistory, expected: Any) -> None:
    assert gate(history, T0) == expected


# -- admission decisions -----------------------------------------------------------------------


BUSY = Verdict(ok=False, reason="cpu 90.0 > 50", pressure=0.8)


def test_admit_when_ok() -> None:
    assert admit(RunHistory(), Conditions(), Verdict(ok=True), T0, base_s=5) == Admit()


def test_first_deferral() -> None:
    decision = admit(RunHistory(), Conditions(max_defer_s=3600), BUSY, T0, base_s=5)
    assert decision == Defer(
        reason="cpu 90.0 > 50",
        pressure=0.8,
        deferrals=1,
        delay_s=9.0,
        next_attempt_at=T0 + timedelta(seconds=9),
    )


def test_deferral_backoff_is_clipped_to_the_expiry() -> None:
    history = RunHistory(deferrals=3, first_deferral_at=T0)
    decision = admit(
        history, Conditions(max_defer_s=20), BUSY, T0 + timedelta(seconds=15), base_s=5
    )
    assert isinstance(decision, Defer) and decision.delay_s == 5.0 and decision.deferrals == 4


@pytest.mark.parametrize(("on_expire", "kind"), [("skip", Expire), ("force", Admit)])
def test_expired_deferral(on_expire: Any, kind: type) -> None:
    history = RunHistory(deferrals=3, first_deferral_at=T0)
    conditions = Conditions(max_defer_s=60, on_expire=on_expire)
    decision = admit(history, conditions, BUSY, T0 + timedelta(seconds=61), base_s=5)
    assert isinstance(decision, kind)
    assert decision.reason == "deferred too long: 61.0s > max_defer_s 60s (cpu 90.0 > 50)"
    assert not isinstance(decision, Admit) or decision.forced


# -- results -----------------------------------------------------------------------------------


def proc(**fields: Any) -> ProcessResult:
    return ProcessResult(**({"exit_code": 0, "duration_s": 1.5} | fields))


@pytest.mark.parametrize(
    ("process", "outcome", "failure_class", "error"),
    [
        pytest.param(proc(), "succeeded", "", "", id="ok"),
        pytest.param(
            proc(exit_code=2, stderr="warn\nno such table\n"),
            "failed",
            "transient",
            "exited with code 2: no such table",
            id="exit",
        ),
        pytest.param(
            proc(exit_code=127), "failed", "permanent", "exited with code 127", id="not-found"
        ),
        pytest.param(
            proc(exit_code=None, signal=signal.SIGKILL),
            "failed",
            "resource",
            "killed by SIGKILL",
            id="oom",
        ),
        pytest.param(
            proc(exit_code=None, signal=signal.SIGKILL, timed_out=True),
            "timed_out",
            "timeout",
            "timed out",
            id="timeout",
        ),
        pytest.param(
            proc(exit_code=None, signal=signal.SIGTERM, cancelled=True),
            "cancelled",
            "",
            "stop",
            id="cancelled",
        ),
        pytest.param(
            proc(exit_code=None, unknown=True, cancelled=True, reason="exit status lost"),
            "failed",
            "unknown",
            "exit status lost",
            id="ended-exit-status-lost",
        ),
    ],
)
def test_from_process(process: ProcessResult, outcome: str, failure_class: str, error: str) -> None:
    result = run_results.from_process(process, cancel_reason="stop")
    assert (result.outcome, result.failure_class, result.error) == (outcome, failure_class, error)
    assert result.duration_s == 1.5


def test_success_event_acks() -> None:
    event, delay = result_event(
        REF,
        RunResult(outcome="succeeded", exit_code=0),
        attempt=1,
        tries=1,
        retry=RETRY,
        timeout_s=60,
        now=T0,
    )
    assert isinstance(event, RunSucceeded) and delay is None and event.executor == "pi"


def test_retryable_failure_sets_next_retry_at_and_delays() -> None:
    result = RunResult(outcome="failed", failure_class="transient", exit_code=1)
    event, delay = result_event(REF, result, attempt=3, tries=2, retry=RETRY, timeout_s=60, now=T0)
    assert delay == 20.0
    assert isinstance(event, RunFailed) and event.next_retry_at == T0 + timedelta(seconds=20)
    assert event.attempt == 3


def test_last_try_is_final() -> None:
    result = RunResult(outcome="timed_out", failure_class="timeout")
    event, delay = result_event(REF, result, attempt=3, tries=3, retry=RETRY, timeout_s=60, now=T0)
    assert isinstance(event, RunTimedOut) and event.next_retry_at is None and delay is None
    assert event.timeout_s == 60


def test_permanent_failure_is_never_retried() -> None:
    event, delay = result_event(
        REF,
        run_results.rejected(ValueError("nope")),
        attempt=1,
        tries=1,
        retry=RETRY,
        timeout_s=None,
        now=T0,
    )
    assert isinstance(event, RunFailed) and (event.failure_class, event.error, delay) == (
        "permanent",
        "nope",
        None,
    )


def test_cancelled_is_final() -> None:
    event, delay = result_event(
        REF,
        RunResult(outcome="cancelled", error="overlap"),
        attempt=1,
        tries=1,
        retry=RETRY,
        timeout_s=None,
        now=T0,
    )
    assert isinstance(event, RunCancelled) and event.reason == "overlap" and delay is None


# -- hold off: never start a second copy while the first may still run ---------------------------

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
SAFE = 13.0


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def peer(name: str, beat_ago: float, running: tuple[str, ...] = (), fresh: bool = True) -> Any:
    return run_attempt.Peer(name, ago(beat_ago), ago(beat_ago), frozenset(running), fresh)


def begun(by: str, seconds_ago: float) -> RunHistory:
    return RunHistory(started=1, started_by=by, started_at=ago(seconds_ago))


@pytest.mark.parametrize(
    ("history", "peers", "wait"),
    [
        pytest.param(begun("b", 60), [peer("b", 1, ("r1",))], SAFE, id="holder-lists-it"),
        pytest.param(RunHistory(), [], 0.0, id="nothing-started"),
        pytest.param(begun("a", 1), [], 0.0, id="our-own-attempt-journal-decides"),
        pytest.param(begun("b", 10), [peer("b", 2)], 0.0, id="owner-beat-since-without-it"),
        pytest.param(begun("b", 2), [peer("b", 4)], SAFE - 2, id="owner-not-beaten-since"),
        pytest.param(begun("b", 600), [], 0.0, id="owner-gone-long-ago"),
        pytest.param(begun("b", 2), [], SAFE - 2, id="owner-gone-just-after-start"),
        pytest.param(
            begun("b", 600), [peer("b", 3, fresh=False)], SAFE - 3, id="owner-died-just-now"
        ),
    ],
)
def test_hold_off(history: RunHistory, peers: list[Any], wait: float) -> None:
    got = run_attempt.hold_off("r1", history, peers, NOW, me="a", safe_s=SAFE)
    assert got == pytest.approx(wait)


@pytest.mark.parametrize(
    ("ended", "carried"),
    [(None, None), (T0 - timedelta(seconds=0.5), None), (T0 - timedelta(seconds=9), True)],
    ids=["not-known", "stored-at-once", "held-back"],
)
def test_a_result_stored_late_names_when_its_job_ended(ended: Any, carried: Any) -> None:
    """newcomer16b F5: `runs show` said finished when the result was stored (journal, outage)."""
    result = RunResult(outcome="succeeded", exit_code=0, ended_at=ended)
    event, _ = result_event(REF, result, attempt=1, tries=1, retry=RETRY, timeout_s=60, now=T0)
    assert isinstance(event, RunSucceeded)
    assert event.ended_at == (ended if carried else None)


def test_the_supervisors_end_time_reaches_the_result() -> None:
    process = ProcessResult(exit_code=0, duration_s=1.0, ended_at=T0.timestamp())
    assert run_results.from_process(process).ended_at == T0
    assert run_results.stamped(RunResult(outcome="succeeded"), T0).ended_at == T0
    assert run_results.stamped(run_results.from_process(process), T0 + timedelta(1)).ended_at == T0
