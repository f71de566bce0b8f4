"""SIGKILL at every moment of a run's end: the job ends once, its run gets one final result.

A real nats-server, a real executor (a subprocess, SIGKILLed too where the case says `dies`),
its real job supervisor and a shell job that writes `<attempt> start|end <pid>` to a witness
file. Each case picks its kill moment by watching what the supervisor writes:

  before-start  the supervisor stops itself right before it spawns the job (the one test hook,
                JETCRON_TEST_PAUSE_BEFORE_SPAWN: supervisor.py), then it is SIGKILLed
  mid-job       SIGKILL once the job has written `start`
  after-end     SIGSTOP once job.json is there, let the job end (its exit status waits in the
                stopped supervisor, result.json unwritten), then SIGKILL
  after-reap    SIGSTOP once the supervisor has written ended.json (the job exited, a child it
                left ignores SIGTERM: the supervisor waits its grace before result.json), SIGKILL
  after-stored  the executor is SIGKILLed once the run's result is in the log (its ack, and
                the end of its journal entry, may or may not have happened)

A job that ended is never started again: reaped, its result is the supervisor's ended.json;
not reaped yet, its exit status died with its supervisor, so its run ends `run.failed` with
failure class `unknown`. A job cut short is killed before another attempt
(a retry, or the redelivery after a restart) starts; one that never started runs once.
(mid-job with the executor killed too: test_supervisor_death.py, `with-its-executor`.)
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import psutil
import pytest
from nats.js import JetStreamContext
from test_agent import events, kinds, publish, sh, trigger
from test_crash import Victim

from conftest import alive
from jetcron import subjects
from jetcron.domain.definition import RetryPolicy
from jetcron.domain.events import RunFailed, RunTriggered
from jetcron.domain.runs import is_final
from jetcron.log.stream import EventLog
from polling import until

ACK_WAIT = 2.0
HOOK = "JETCRON_TEST_PAUSE_BEFORE_SPAWN"

CASES = {
    # (moment, executor): (seconds attempt 1 runs, the run's events, starts of the job)
    ("before-start", "lives"): (
        0.3,
        ["RunStarted", "RunHandedBack", "RunStarted", "RunSucceeded"],
        1,
    ),
    ("before-start", "dies"): (
        0.3,
        ["RunStarted", "RunHandedBack", "RunStarted", "RunSucceeded"],
        1,
    ),
    ("mid-job", "lives"): (5, ["RunStarted", "RunFailed", "RunStarted", "RunSucceeded"], 2),
    ("after-end", "lives"): (0.3, ["RunStarted", "RunFailed"], 1),
    ("after-end", "dies"): (0.3, ["RunStarted", "RunFailed"], 1),
    ("after-reap", "lives"): (0.3, ["RunStarted", "RunSucceeded"], 1),
    ("after-reap", "dies"): (0.3, ["RunStarted", "RunSucceeded"], 1),
    ("after-stored", "dies"): (0.3, ["RunStarted", "RunSucceeded"], 1),
}


def witness_job(witness: Path, seconds: float, linger: bool) -> str:
    """Attempt 1 runs `seconds` (leaving a child that ignores SIGTERM if `linger`), others 0.2 s."""
    child = "(trap '' TERM; sleep 5) & " if linger else ""
    return (
        f'echo "$JETCRON_ATTEMPT start $$" >> {witness}; '
        f'if [ "$JETCRON_ATTEMPT" = 1 ]; then {child}sleep {seconds}; else sleep 0.2; fi; '
        f'echo "$JETCRON_ATTEMPT end $$" >> {witness}'
    )


def said(witness: Path, what: str) -> list[tuple[str, int]]:
    """(attempt, pid) of every `start` or `end` line."""
    text = witness.read_text() if witness.exists() else ""
    return [(w[0], int(w[2])) for w in map(str.split, text.splitlines()) if w[1] == what]


def supervisor_pid(run_dir: Path) -> int | None:
    for p in psutil.process_iter(["cmdline"]):
        cmdline = p.info["cmdline"] or []
        if any(a.endswith("supervisor.py") for a in cmdline) and str(run_dir) in cmdline:
            return p.pid
    return None


def stopped(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_STOPPED)
    except psutil.NoSuchProcess:
        return False


def job_json(run_dir: Path) -> dict[str, list[int]] | None:
    try:
        return msgspec.json.decode((run_dir / "job.json").read_bytes())  # type: ignore[no-any-return]
    except (OSError, msgspec.DecodeError):
        return None


async def settled(
    js: JetStreamContext, event_log: EventLog, t: RunTriggered, journal: Path
) -> bool:
    """The run has its final event, its trigger is acked and its journal entry is gone."""
    evs = await events(event_log, t)
    if not evs or not is_final(evs[-1]) or (journal / t.run_id).exists():
        return False
    infos = await js.consumers_info(subjects.STREAM)
    return not any(i.num_pending or i.num_ack_pending for i in infos)


async def kill_at(
    moment: str, victim: Victim, event_log: EventLog, t: RunTriggered, run_dir: Path, w: Path
) -> int:
    """Bring the run to `moment` and SIGKILL there (the supervisor; the executor for
    after-stored); the supervisor's pid (0: none killed)."""
    if moment == "after-stored":
        await until(lambda: _has_result(event_log, t), 10)
        await victim.kill()
        return 0
    if moment == "before-start":
        await until(lambda: (pid := supervisor_pid(run_dir)) and stopped(pid), 10)
    elif moment == "mid-job":
        await until(lambda: said(w, "start") and job_json(run_dir), 10)
    elif moment == "after-reap":
        await until(lambda: (run_dir / "ended.json").exists(), 10)
        info = job_json(run_dir)
        assert info is not None
        os.kill(info["supervisor"][0], signal.SIGSTOP)
        assert not (run_dir / "result.json").exists(), "too late: the supervisor reported"
    else:
        await until(lambda: job_json(run_dir), 10)
        info = job_json(run_dir)
        assert info is not None
        os.kill(info["supervisor"][0], signal.SIGSTOP)
        job = info["job"][0]
        await until(lambda: said(w, "end") and not alive(job), 10)
    pid = supervisor_pid(run_dir)
    assert pid is not None
    return pid


async def _has_result(event_log: EventLog, t: RunTriggered) -> bool:
    return any(k.startswith("RunSucc") for k in kinds(await events(event_log, t)))


@pytest.fixture
async def victim(nats_url: str, tmp_path: Path) -> AsyncIterator[Victim]:
    v = Victim(nats_url, tmp_path / "journal", ack_wait=ACK_WAIT)
    yield v
    await v.stop()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("moment", "executor"), list(CASES), ids=[f"{m}-{e}" for m, e in CASES])
async def test_a_sigkill_at_any_moment_of_a_runs_end_never_runs_an_ended_job_again(
    js: JetStreamContext,
    event_log: EventLog,
    tmp_path: Path,
    victim: Victim,
    monkeypatch: pytest.MonkeyPatch,
    moment: str,
    executor: str,
) -> None:
    seconds, expected, starts = CASES[(moment, executor)]
    witness, journal = tmp_path / "witness", tmp_path / "journal"
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.2)
    job = sh(witness_job(witness, seconds, linger=moment == "after-reap"))
    t = trigger(job, target="kpool", retry=retry)
    run_dir = journal / t.run_id
    if moment == "before-start":
        (tmp_path / "pause").touch()
        monkeypatch.setenv(HOOK, str(tmp_path / "pause"))
    await victim.start()
    await publish(event_log, t)
    sup = await kill_at(moment, victim, event_log, t, run_dir, witness)
    if executor == "dies" and moment != "after-stored":
        await victim.kill()  # why: first, or the live executor would settle the run at once
    if sup:
        os.kill(sup, signal.SIGKILL)
    if executor == "dies":
        await victim.start()
    await until(lambda: settled(js, event_log, t, journal), 20)

    evs = await events(event_log, t)
    assert kinds(evs) == expected
    assert len(said(witness, "end")) == 1, "the job ended twice (or never)"
    assert len(said(witness, "start")) == starts
    assert not any(alive(pid) for _, pid in said(witness, "start"))
    if moment == "after-end":
        assert isinstance(evs[-1], RunFailed)
        assert evs[-1].failure_class == "unknown" and evs[-1].next_retry_at is None
        assert "exit status" in evs[-1].error
        assert evs[-1].duration_s is None, "not known: never 0 s"
    if moment == "before-start":
        # why: its RunStarted was a claim; the job never started (newcomer18b F7)
        assert evs[1].attempt == 1 and "before it started the job" in evs[1].reason
    if moment == "mid-job":
        assert isinstance(evs[1], RunFailed) and evs[1].duration_s, "cut short: it ran this long"
