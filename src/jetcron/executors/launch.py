"""An attempt's job, started once its trigger passed every gate: a command under its
supervisor, or an action; either claims the run in the log (RunStarted) before it starts."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from jetcron.errors import InvalidInput
from jetcron.executors import attempt as run_attempt
from jetcron.executors import results as run_results
from jetcron.executors.actions import ActionContext, resolve, run_action
from jetcron.executors.commands import DEFAULT_PATH, build_env, resolve_command, resolve_cwd
from jetcron.executors.config import ExecutorConfig
from jetcron.executors.journal import EntryMeta, Journal
from jetcron.executors.process import run_process
from jetcron.executors.results import RunResult
from jetcron.executors.runlog import Run, RunLog

ORPHAN_SHARE = 0.3
"""A job may outlive its executor's death or silence this share of ack_wait (`orphan_after`).

why: while the executor's loop runs it renews the trigger (consumers.keepalive), so JetStream
redelivers no earlier than (1 - KEEPALIVE_SHARE) = 2/3 of ack_wait after it died or froze
(SIGSTOP, a stuck loop: no in-progress either). Its supervisor hears from it every
orphan_after/4 (a touch of the run's `owner` file, supervisor.pulse_every) and looks every
min(0.25 s, orphan_after/4); it stops a job whose executor was dead or silent for orphan_after,
with a grace of at most 0.1 (GRACE_SHARE): all done by 0.4 × ack_wait + two looks + the
SIGKILL, before anyone else can start the run (2/3 × ack_wait; the margin, 0.27 × ack_wait,
holds the looks and the kill from 3 s up). A restart that adopts the job within orphan_after
keeps it; an executor that finds itself silent that long lets the job go (process.Job._pulse)
and records no result (LetGo).
The same rule covers an executor that is alive but cannot renew (its NATS node hung, cut off
from the cluster; newcomer17b #1): it touches `owner` only while its last *confirmed* renewal
is younger than KEEPALIVE_SHARE of ack_wait (consumers.Hold), the age the freeze case allows,
so the supervisor stops the job by the same 0.733 × ack_wait after it, before the redelivery
(ack_wait after it); a failover within orphan_after of the lapse keeps the job."""
GRACE_SHARE = 0.1
Claim = Callable[[int | None], Awaitable[None]]
"""Claims the run in the log (RunStarted, compare-and-set) given the job's pid, if any."""


async def run_command(
    run: Run, attempt: int, claim: Claim, c: ExecutorConfig, runs_log: RunLog, journal: Journal
) -> RunResult | run_attempt.LetGo:
    """Run the trigger's command under its supervisor (journalled in `journal`)."""
    job = run.trigger.job
    path = os.environ.get("PATH") or DEFAULT_PATH
    try:
        argv = resolve_command(
            job.command, job.shell, allow=c.allow, allow_shell=c.allow_shell, path=path
        )
        cwd = resolve_cwd(job.cwd, c.work_dir)
        hidden = await runs_log.secret_env(run) if job.secrets else {}
        env = build_env({**job.env, **hidden}, run_attempt.run_vars(run.ref, attempt))
        meta = EntryMeta(trigger=run.raw.decode(), fanout=run.fanout, attempt=attempt)
        run_dir = journal.begin(run.ref.run_id, meta)
        result = await run_process(
            argv, cwd=cwd, env=env, timeout=run.trigger.timeout_s,
            grace=min(c.kill_grace_s, GRACE_SHARE * c.ack_wait_s),
            output_cap=c.output_cap, cancel=run.cancel, claim=claim,
            run_dir=run_dir, orphan_after=ORPHAN_SHARE * c.ack_wait_s,
            cancel_reason=lambda: run.cancel_reason, holding=run.held,
        )  # fmt: skip
    except InvalidInput as err:
        return run_results.rejected(err)
    if result.given_up or result.not_started:
        # why: nothing of it runs, no result is known: hand the run back like a lost attempt
        return run_attempt.LetGo(result.reason, started=not result.not_started)
    return run_results.from_process(result, cancel_reason=run.cancel_reason)


async def run_action_job(run: Run, attempt: int, claim: Claim, *, grace: float) -> RunResult:
    """Run the trigger's built-in action in this process."""
    job = run.trigger.job
    assert job.action is not None
    try:
        resolve(job.action)
    except InvalidInput as err:
        return run_results.rejected(err)  # why: like a refused command: it never started
    await claim(None)
    ctx = ActionContext(
        run_id=run.ref.run_id, schedule=run.ref.name, fire_time=run.ref.fire_time,
        attempt=attempt, cancel=run.cancel, params=dict(job.params),
    )  # fmt: skip
    return await run_action(job.action, ctx, timeout=run.trigger.timeout_s, grace=grace)
