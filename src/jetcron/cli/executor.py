"""`jetcron executor`, and the executor `up` runs beside its scheduler."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from nats.aio.client import Client

from jetcron.cli.common import CredsOpt, ServerOpt, bounded, connect_options, handle_errors
from jetcron.cli.startup import connected, install_signals, out
from jetcron.connect import close
from jetcron.errors import InvalidInput
from jetcron.log.connection import ConnectionWatch

if TYPE_CHECKING:
    from jetcron.connect import ConnectOptions
    from jetcron.executors.agent import Stopped
    from jetcron.executors.config import ExecutorConfig
    from jetcron.executors.naming import Claim

NameOpt = typer.Option(
    socket.gethostname(), "--name", help="This executor's name (a target of its own)."
)
TargetOpt = typer.Option(
    None, "--target", help="Targets to serve (default: its name and 'default')."
)
TagsOpt = typer.Option(
    "",
    "--tags",
    help="Comma-separated tags: pools it joins and all:<tag> fan-outs it receives.",
)
ConcurrencyOpt = typer.Option(4, "--concurrency", help="Runs at the same time.")
AllowOpt = typer.Option(None, "--allow", help="Only these executables may run (repeatable).")
AllowShellOpt = typer.Option(False, "--allow-shell", help="Allow shell-string jobs.")
WorkDirOpt = typer.Option(None, "--work-dir", help="Jobs' working directories must be inside this.")
AckWaitOpt = typer.Option(
    30.0,
    "--ack-wait",
    callback=bounded(1),
    help="Seconds before an unacknowledged trigger is redelivered.",
)
DrainTimeoutOpt = typer.Option(
    30.0, "--drain-timeout", help="On SIGTERM, let running jobs finish this long."
)
SchedulerKeyOpt = typer.Option(
    None,
    "--scheduler-key",
    envvar="JETCRON_SCHEDULER_KEYS",
    help="Run only triggers signed by this scheduler nkey (public, U...; repeatable; "
    "`jetcron auth user list` shows it).",
)
JournalDirOpt = typer.Option(
    None,
    "--journal-dir",
    help="Where running jobs are journaled so they survive a crash of this executor "
    "(default: $XDG_STATE_HOME/jetcron/executors/NAME, i.e. ~/.local/state/...).",
)
ReplaceOpt = typer.Option(
    False,
    "--replace",
    help="Start even if an executor of this name is online (one that crashed on another "
    "host: its heartbeat expires within 3 intervals, 15 s by default); a live one it "
    "replaces stops at its next heartbeat.",
)


@handle_errors
def executor(
    name: str = NameOpt,
    target: list[str] | None = TargetOpt,
    tags: str = TagsOpt,
    concurrency: int = ConcurrencyOpt,
    allow: list[str] | None = AllowOpt,
    allow_shell: bool = AllowShellOpt,
    work_dir: str | None = WorkDirOpt,
    ack_wait: float = AckWaitOpt,
    drain_timeout: float = DrainTimeoutOpt,
    scheduler_key: list[str] | None = SchedulerKeyOpt,
    journal_dir: Path | None = JournalDirOpt,
    replace: bool = ReplaceOpt,
    server: str = ServerOpt,
    creds: str | None = CredsOpt,
) -> None:
    """Run an executor on this host: take the triggers for its targets and run them."""
    from jetcron.cli import executing
    from jetcron.executors.config import ExecutorConfig
    from jetcron.executors.journal import Journal

    targets = list(target or [name, "default"])
    trusted = _keys(scheduler_key)
    tag_list = [t.strip() for t in tags.split(",") if t.strip()]
    executing.check_startup(name, targets, tag_list, work_dir)
    journal = Path(journal_dir or default_journal(name))
    config = ExecutorConfig(
        name=name, targets=targets, tags=tag_list, allow_shell=allow_shell,
        concurrency=concurrency, allow=list(allow or []), work_dir=work_dir,
        ack_wait_s=ack_wait, drain_timeout_s=drain_timeout, trusted_schedulers=trusted,
        journal_dir=str(journal),
    )  # fmt: skip
    Journal.check_free(journal)  # why: refused before it says hello or claims its name
    if concurrency < 1:
        raise InvalidInput("--concurrency must be >= 1")
    asyncio.run(_main(config, connect_options(server, creds, f"jetcron-executor-{name}"), replace))


async def _main(config: ExecutorConfig, opts: ConnectOptions, replace: bool) -> None:
    """Connect (waiting for NATS), check the targets, claim the name, say hello, run."""
    from jetcron.cli import executing

    stop, force = asyncio.Event(), asyncio.Event()
    install_signals(stop, force)
    nc = await connected(opts, stop, ConnectionWatch(f"NATS at {', '.join(opts.urls())}"))
    if nc is None:
        _say(f"executor {config.name!r} stopped before it reached NATS: it took no run")
        return
    try:
        await executing.check_targets(nc, config)
        claim, note = await executing.claim_name(nc, config, replace=replace)
        hello = executing.startup_line(
            config.name, config.targets, config.tags, opts.urls(), config.work_dir
        )
        for line in (note, hello):
            if line:
                _say(line)
        stopped = await run_executor(nc, config, stop, force, claim)
    finally:
        await close(nc)
    # why: after the close, so nothing of ours outlives the line; without it a terminal could
    # not tell "stopped cleanly" from "still draining" (newcomer18a #12)
    _say(stopped_line(config.name, stopped))


def stopped_line(name: str, stopped: Stopped) -> str:
    """The last line of an executor: what became of the runs it held when it stopped."""
    n = stopped.in_flight
    if n == 0:
        return f"executor {name!r} stopped: no run was in flight"
    parts = [
        f"{stopped.finished} finished" if stopped.finished else "",
        f"{stopped.handed_back} handed back (each runs again from the start as its next "
        "attempt, on another executor or at the next start)"
        if stopped.handed_back
        else "",
        f"{stopped.held} ended with the result kept in the journal (stored at the next start)"
        if stopped.held
        else "",
        f"{stopped.other} not settled (see the lines above)" if stopped.other else "",
    ]
    runs = "run was" if n == 1 else "runs were"
    return f"executor {name!r} stopped: {n} {runs} in flight: {', '.join(p for p in parts if p)}"


def _say(line: str) -> None:
    out.print(line, highlight=False, markup=False)


def _keys(given: list[str] | None) -> list[str]:
    """--scheduler-key values (a variable may hold several, comma-separated), checked."""
    keys = [k.strip() for v in given or [] for k in v.split(",") if k.strip()]
    for key in keys:
        if not (key.startswith("U") and len(key) == 56):
            raise InvalidInput(f"--scheduler-key {key!r}: a user public nkey (U..., 56 characters)")
    return keys


def default_journal(name: str) -> Path:
    """An executor's journal directory: per user and executor name, like other state."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "jetcron" / "executors" / name


async def run_executor(
    nc: Client,
    config: ExecutorConfig,
    stop: asyncio.Event,
    force: asyncio.Event | None = None,
    claim: Claim | None = None,
) -> Stopped:
    """Run the executor of `config` until stopped (`force`: stop its jobs now); what became
    of the runs it held then."""
    from jetcron.executors.agent import Executor

    return await Executor(nc, config, claim=claim).run(stop, force)


async def up_claim(nc: Client, config: ExecutorConfig) -> Claim:
    """Claim the name of `up`'s executor (a crash leftover of a killed `up` is taken over)."""
    from jetcron.cli import executing

    claim, note = await executing.claim_name(nc, config, up=True)
    if note:
        out.print(note, highlight=False, markup=False)
    return claim


async def up_executor(
    nc: Client, config: ExecutorConfig, claim: Claim, stop: asyncio.Event, force: asyncio.Event
) -> None:
    """`up`'s executor; if another executor takes its name (`--replace`), `up` goes on without."""
    from jetcron.executors.naming import NameTaken

    try:
        stopped = await run_executor(nc, config, stop, force, claim)
    except NameTaken as err:
        out.print(f"[yellow]{err}[/]; `up` goes on without its executor", highlight=False)
        return
    _say(stopped_line(config.name, stopped))
