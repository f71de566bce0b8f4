"""`jetcron up`, `serve` and `executor`: the long-running processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import typer
from nats.aio.client import Client
from rich.console import Console

from jetcron import service
from jetcron.cli.common import (
    CredsOpt,
    ServerOpt,
    bounded,
    connect_options,
    echo,
    handle_errors,
)
from jetcron.cli.context import inherit_typed
from jetcron.cli.upstore import StoreWatch
from jetcron.connect import DEFAULT_URL, ConnectOptions, close, connect
from jetcron.datadir import DataDirLock, undone_on_failure
from jetcron.errors import InfrastructureError, InvalidInput, JetcronError
from jetcron.log.connection import ConnectionWatch
from jetcron.log.errors import transient
from jetcron.log.follow import FollowHealth, backoff, supervise
from jetcron.log.stream import EventLog
from jetcron.server import NatsServer

if TYPE_CHECKING:
    from jetcron.auth.local import LocalSecurity
    from jetcron.executors.config import ExecutorConfig
    from jetcron.executors.naming import Claim
    from jetcron.projections.metrics import Metrics

log = logging.getLogger(__name__)
out = Console(stderr=True, soft_wrap=True)  # why: lines stay whole in a log file (grep, copy)
T = TypeVar("T")


def _install_signals(stop: asyncio.Event, force: asyncio.Event | None = None) -> None:
    """The first Ctrl-C/SIGTERM stops gracefully; a second one sets `force` (stop jobs now)."""
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
            if force is not None:
                out.print("stopping… (Ctrl-C again to stop running jobs now)", highlight=False)
        elif force is not None and not force.is_set():
            force.set()
            out.print("stopping running jobs now", highlight=False)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


async def _supervise(nats: NatsServer, stop: asyncio.Event, every: float = 1.0) -> None:
    """Restart `up`'s nats-server when it dies (a crash, the OOM killer, a stray kill -9), or
    its store is stuck and has room again, on the same port and store; the services ride out
    the gap as in any NATS outage."""
    failures = 0
    store = StoreWatch(nats, lambda line: out.print(f"[yellow]{line}[/]", highlight=False))
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(
                every if failures == 0 else backoff(failures, base=2.0, cap=30.0)
            ):
                await stop.wait()
        if not stop.is_set() and nats.running:
            store.check()  # why: a stuck store (disk full) needs a restart once there is room
        if stop.is_set() or nats.running:
            continue
        out.print(
            f"[yellow]nats-server exited ({nats.exit_status})[/]; restarting it on "
            f"{nats.url} with the same store (log: {nats.log_file or nats.stderr_file})",
            highlight=False,
        )
        try:
            # why: on this (the main) thread: the child's PDEATHSIG is tied to the thread that
            # spawns it. Starting blocks the loop for the server's recovery (well under a second
            # on a small store); every service is waiting for NATS anyway.
            nats.restart()
        except (JetcronError, OSError) as err:  # why: a port taken meanwhile is PortInUse
            failures += 1
            out.print(f"[red]could not restart nats-server:[/] {err}", highlight=False)
            continue
        failures = 0
        out.print(f"nats-server is back on {nats.url} (pid {nats.pid})", highlight=False)


async def _serve_and_execute(
    opts: ConnectOptions,
    config: service.ServiceConfig,
    runner: ExecutorConfig | None,
    quiet: bool,
    executor_opts: ConnectOptions | None = None,
    web_socket: socket.socket | None = None,
    embedded: NatsServer | None = None,
    metrics: Metrics | None = None,
) -> None:
    """The scheduler service (and the executor `runner`, on its own connection if
    `executor_opts`); `embedded` is `up`'s own nats-server, restarted if it dies under us."""
    from jetcron.cli import executing

    stop, force = asyncio.Event(), asyncio.Event()
    _install_signals(stop, force if runner else None)
    supervisor = None if embedded is None else asyncio.create_task(_supervise(embedded, stop))
    watch = ConnectionWatch(f"NATS at {', '.join(opts.urls())}")
    nc = await _first_or_none(connect(opts, persistent=True, watch=watch), stop)
    if nc is None:
        return
    ready = asyncio.Event()
    stack = contextlib.AsyncExitStack()
    try:
        if runner is not None:
            await executing.check_name(nc, runner)  # why: refuse before the service starts
        # why: before the service starts, so `up` also prints its own start-up catch-up
        echo_from = None if quiet else await _log_end(nc)
        async with stack, asyncio.TaskGroup() as tg:
            tg.create_task(
                service.run(
                    nc, stop=stop, config=config, ready=ready, connection=watch, metrics=metrics
                )
            )
            if await _first_or_none(ready.wait(), stop) is None:
                return
            if runner is not None:
                # why: under auth the executor is its own identity (its own permissions)
                enc = nc if executor_opts is None else await _connected(executor_opts, stop)
                if enc is None:
                    return
                if enc is not nc:
                    stack.push_async_callback(close, enc)
                claim = await _up_claim(enc, runner)
                tg.create_task(_up_executor(enc, runner, claim, stop, force))
            if web_socket is not None:
                tg.create_task(_web(opts, web_socket, stop))
            if quiet:
                # why: a replica that says nothing cannot be told from one still connecting
                echo(
                    f"scheduler replica {config.holder()} serving at {opts.urls()[0]} "
                    "(commands, queries; the ticker while it holds the lease). Ctrl-C stops.",
                    err=True,
                )
            else:
                tg.create_task(_echo_runs(nc, stop, echo_from))
                url = opts.urls()[0]
                # why: other terminals find a non-default server only if told where it is
                hint = "" if url == DEFAULT_URL else f" (in other terminals: export NATS_URL={url})"
                out.print(
                    f"[green]jetcron is up[/] at {url}{hint} — try "
                    "`jetcron schedule add hello '@every 10s' -- echo hi`. Ctrl-C stops.",
                    highlight=False,
                )
    except BaseExceptionGroup as group:
        raise _cause(group) from None  # why: show what failed, not a wrapper around it
    finally:
        if supervisor is not None:
            supervisor.cancel()
        await close(nc)  # why: a close error ("Connection lost") must not replace the real one


async def _connected(opts: ConnectOptions, stop: asyncio.Event) -> Client | None:
    """A persistent connection (reconnecting forever), or None if stopped first."""
    watch = ConnectionWatch(f"NATS at {', '.join(opts.urls())} ({opts.name})")
    return await _first_or_none(connect(opts, persistent=True, watch=watch), stop)


async def _up_claim(nc: Client, config: ExecutorConfig) -> Claim:
    """Claim the name of `up`'s executor (a crash leftover of a killed `up` is taken over)."""
    from jetcron.cli import executing

    claim, note = await executing.claim_name(nc, config, up=True)
    if note:
        out.print(note, highlight=False, markup=False)
    return claim


def _metrics(port: int | None, host: str) -> Metrics | None:
    """Prometheus metrics on host:port, served from now on; None if off, or (said on stderr,
    the rest runs, as for `up`'s console) if the port is taken."""
    if port is None:
        return None
    from jetcron.projections.metrics import Metrics

    metrics = Metrics(port, host)
    try:
        metrics.start()
    except InvalidInput as err:
        out.print(f"metrics not served: {err}; the rest runs without them", highlight=False)
        return None
    return metrics


def _web_socket(port: int) -> socket.socket | None:
    """The console's socket on 127.0.0.1:port; None (said on stderr) if off or the port is taken."""
    if port == 0:
        return None
    from jetcron.web.serve import listen

    try:
        return listen("127.0.0.1", port)
    except InvalidInput as err:
        # why: the console is a convenience of `up`; a second `up` or a busy port must not stop the rest
        out.print(f"web console not started: {err} (use --http-port)", highlight=False)
        return None


async def _web(opts: ConnectOptions, sock: socket.socket, stop: asyncio.Event) -> None:
    from jetcron.web.serve import gateway_for, serve, url_of

    gateway = gateway_for(msgspec.structs.replace(opts, name="jetcron-web"), "127.0.0.1", None)
    out.print(f"web console and API on {url_of(sock)}", highlight=False)
    await serve(gateway, sock, stop)


async def _first_or_none(aw: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
    """aw's result, or None if stop is set first (Ctrl-C while waiting for NATS)."""
    task, stopped = asyncio.ensure_future(aw), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        return task.result() if task.done() else None
    finally:
        task.cancel()
        stopped.cancel()


def _cause(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real error in a task group; the others are logged."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        err = stack.pop(0)
        if isinstance(err, BaseExceptionGroup):
            stack[:0] = err.exceptions
        elif not isinstance(err, asyncio.CancelledError):
            leaves.append(err)
    for other in leaves[1:]:
        log.error("also failed: %s", str(other) or type(other).__name__)
    return leaves[0] if leaves else group


async def _log_end(nc: Client) -> int | None:
    """The log's last sequence: 0 while there is no log (the service creates it), None while
    JetStream does not answer (the service waits for it; the echo then starts where it is)."""
    try:
        return await EventLog(nc).last_seq()
    except InfrastructureError:  # why: last_seq's word for "no such stream"
        return 0
    except Exception as err:
        if transient(err):
            return None
        raise


async def _echo_runs(nc: Client, stop: asyncio.Event, after: int | None) -> None:
    """Print one line per finished run, skipped or missed fire after sequence `after` (None:
    the log's end now): what `up` shows while it runs."""
    event_log = await EventLog(nc).open(create=False)
    seen = [await event_log.last_seq() if after is None else after]
    health = FollowHealth("run echo")
    try:
        await supervise(lambda: _print_runs(event_log, seen, health), health=health, stop=stop)
    finally:
        await event_log.close()


async def _print_runs(event_log: EventLog, seen: list[int], health: FollowHealth) -> None:
    """Print what happened after seen[0] (and advance it, so a restart goes on from there)."""
    from jetcron import subjects
    from jetcron.cli.follow import event_line
    from jetcron.domain.events import FireMissed, RunEvent, RunSkipped
    from jetcron.domain.runs import is_final

    async for batch in event_log.read(
        from_seq=seen[0] + 1, subjects=[subjects.RUNS, subjects.FIRES], follow=True, health=health
    ):
        seen[0] = batch[-1].seq
        for stored in batch:
            e = stored.event
            if isinstance(e, RunEvent) and is_final(e) or isinstance(e, FireMissed | RunSkipped):
                # why: the same line `jetcron runs follow` prints
                out.print(event_line(stored.envelope), highlight=False, markup=False)


RetentionOpt = typer.Option(
    None,
    "--retention",
    help="How long triggers, fires and run events (with their output) stay in the log, "
    "e.g. 30d (at least 2d); 'forever' keeps them. Definitions, their audit and daily "
    "statistics always stay. "
    "Default: keep the log's current setting (a new log: 30d).",
)
KeepRunsOpt = typer.Option(
    500,
    "--keep-runs",
    min=0,
    help="Finished runs (and fires) per schedule the views keep in memory; older ones are in "
    "`stats` as daily rollups. 0 keeps all (memory then grows with history).",
)


def parse_retention(text: str | None) -> int | None:
    """--retention as whole seconds (0: forever), or None when not given."""
    if text is None:
        return None
    if text.strip().lower() in ("0", "forever", "off", "none"):
        return 0
    from jetcron.domain.durations import parse_duration

    try:
        seconds = int(parse_duration(text).total_seconds())
    except ValueError as err:
        raise InvalidInput(f"--retention: {err}") from None
    from jetcron.projections.rollups import retention_problem

    if (problem := retention_problem(max(seconds, 1))) is not None:  # why: 0 means forever
        raise InvalidInput(f"--retention {text}: {problem}")
    return seconds


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


async def _executor(
    nc: Client,
    config: ExecutorConfig,
    stop: asyncio.Event,
    force: asyncio.Event | None = None,
    claim: Claim | None = None,
) -> None:
    from jetcron.executors.agent import Executor

    await Executor(nc, config, claim=claim).run(stop, force)


async def _up_executor(
    nc: Client, config: ExecutorConfig, claim: Claim, stop: asyncio.Event, force: asyncio.Event
) -> None:
    """`up`'s executor; if another executor takes its name (`--replace`), `up` goes on without."""
    from jetcron.executors.naming import NameTaken

    try:
        await _executor(nc, config, stop, force, claim)
    except NameTaken as err:
        out.print(f"[yellow]{err}[/]; `up` goes on without its executor", highlight=False)


@handle_errors
def up(
    data_dir: Path = typer.Option(
        Path(".jetcron"), "--data-dir", help="Where the log (JetStream store) and server log live."
    ),
    port: int = typer.Option(
        4222, "--port", callback=bounded(1, 65535), help="Client port of the embedded nats-server."
    ),
    server: str = typer.Option(
        "",
        "--server",
        "-s",
        envvar="JETCRON_UP_SERVER",
        help="Use this NATS instead of starting one.",
        callback=inherit_typed,  # why: `jetcron -s URL up` means `jetcron up -s URL`
    ),
    no_executor: bool = typer.Option(False, "--no-executor", help="Do not run a local executor."),
    allow_shell: bool = typer.Option(
        False, "--allow-shell", help="Let the local executor run shell strings."
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        callback=bounded(1, 65535),
        help="Serve Prometheus metrics on this port.",
    ),
    retention: str | None = RetentionOpt,
    secure: bool = typer.Option(
        False,
        "--secure",
        help="Users with roles and TLS: the embedded server requires both (a local CA and the "
        "identities are made in DATA_DIR/auth on first use; once secured, `up` stays so).",
    ),
    http_port: int = typer.Option(
        8080,
        "--http-port",
        callback=bounded(0, 65535),
        help="Serve the web console and API on 127.0.0.1:PORT (0: off).",
    ),
    keep_runs: int = KeepRunsOpt,
) -> None:
    """Start everything locally: nats-server (JetStream), the scheduler service and an executor."""
    from jetcron.cli import executing

    config = service.ServiceConfig(retention_s=parse_retention(retention), keep_runs=keep_runs)
    executor_name = None if no_executor else socket.gethostname()
    with contextlib.ExitStack() as stack:
        trusted: list[str] = []
        embedded: NatsServer | None = None
        if server:
            opts, executor_opts = connect_options(server, None, "jetcron-up"), None
            # why: with -s nothing is started; an unreachable URL would otherwise look like a hang
            echo(f"up -s: using the NATS at {server} (starting no nats-server of its own)")
        elif secure or _secured(data_dir):
            with undone_on_failure(data_dir):
                embedded, server, opts, executor_opts, trusted = stack.enter_context(
                    _secure_nats(data_dir, port, executor_name)
                )
        else:
            with undone_on_failure(data_dir):
                embedded = stack.enter_context(_embedded_nats(data_dir, port))
            opts, executor_opts = ConnectOptions(servers=embedded.url, name="jetcron-up"), None
        web_socket = _web_socket(0 if trusted else http_port)
        # why 127.0.0.1: everything `up` serves is local (its nats-server, its console)
        metrics = _metrics(metrics_port, "127.0.0.1")
        if trusted and http_port:
            # why: a token-less console would let anyone on this host act without a NATS identity
            out.print(
                "web console not started under --secure: run `jetcron web --token-file F` "
                "with the operator's identity (NATS_CREDS, NATS_CA)",
                highlight=False,
            )
        asyncio.run(
            _serve_and_execute(
                opts,
                config,
                executing.up_config(executor_name, allow_shell, data_dir, trusted)
                if executor_name
                else None,
                quiet=False,
                executor_opts=executor_opts,
                web_socket=web_socket,
                embedded=embedded,
                metrics=metrics,
            )  # fmt: skip
        )
    out.print("jetcron stopped")


def _secured(data_dir: Path) -> bool:
    from jetcron.auth.local import secured

    return secured(data_dir / "auth")


_SAME_USER_WARNING = (
    "[yellow]warning:[/] the local executor runs jobs as this OS user, who can read {auth} "
    "(the admin's key, the CA's key): any operator can become admin with one job; for "
    "isolation use --no-executor and run executors as another OS user (README, Security)"
)
"""why: permissions bind NATS users, not files; a job reads what its OS user may (newcomer16c #3)."""


@contextlib.contextmanager
def _secure_nats(
    data_dir: Path, port: int, executor: str | None
) -> Iterator[tuple[NatsServer, str, ConnectOptions, ConnectOptions | None, list[str]]]:
    """The embedded server with users and TLS: the server, its URL, the scheduler's and the
    executor's connect options, and the scheduler key the executor trusts."""
    from jetcron.auth.local import prepare

    files = prepare(data_dir.resolve() / "auth", executor)
    with _embedded_nats(data_dir, port, secure=files) as nats:
        url = nats.url.replace("nats://", "tls://", 1)
        out.print(
            f"secured: the CLI here uses {files.operator} (admin: {files.admin}); elsewhere: "
            f"export NATS_URL={url} NATS_CREDS={files.operator} NATS_CA={files.ca}"
            + (f" (created {', '.join(files.created)})" if files.created else ""),
            highlight=False,
        )

        if executor is not None:
            out.print(_SAME_USER_WARNING.format(auth=files.auth_dir), highlight=False)

        def as_user(creds: Path, name: str) -> ConnectOptions:
            return ConnectOptions(servers=url, creds=str(creds), tls_ca=str(files.ca), name=name)

        runner = (
            None
            if files.executor is None
            else as_user(files.executor, f"jetcron-executor-{executor}")
        )
        yield nats, url, as_user(files.scheduler, "jetcron-up"), runner, [files.scheduler_key]


@contextlib.contextmanager
def _embedded_nats(
    data_dir: Path, port: int, secure: LocalSecurity | None = None
) -> Iterator[NatsServer]:
    """nats-server on `<data_dir>/store`, under the data-dir lock (one writer per store)."""
    with DataDirLock(data_dir).acquire(port) as lock:
        # why: the server inherits the lock, so the store stays locked until the server is gone
        with NatsServer(
            data_dir=data_dir / "store",
            port=port,
            log_file=data_dir / "nats-server.log",
            keep_fds=[lock.fileno()],
            include=secure.server_conf if secure else None,
            pid_file=secure.pid_file if secure else None,
            tls=(secure.cert, secure.key) if secure else None,
        ) as nats:
            lock.update(nats.port)
            how = (
                "users and TLS required"
                if secure
                else f"no auth, no TLS: listening on {nats.host} only (`jetcron up --secure` for users and TLS)"
            )
            out.print(
                f"nats-server with JetStream on {nats.url}, {how} (data in {data_dir}/store, log {data_dir}/nats-server.log)",
                highlight=False,
            )
            yield nats


@handle_errors
def serve(
    server: str = ServerOpt,
    creds: str | None = CredsOpt,
    replicas: int | None = typer.Option(
        None,
        "--replicas",
        callback=bounded(1, 5),
        help="Replicas of the log and its buckets (3 on a cluster; default: 1 for a new log, "
        "else what it has). An existing log is raised to it, never lowered.",
    ),
    lease_ttl: int = typer.Option(
        5, "--lease-ttl", callback=bounded(1), help="Ticker leader lease TTL in seconds."
    ),
    instance: str = typer.Option("", "--instance", help="Name of this replica (default host:pid)."),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        callback=bounded(1, 65535),
        help="Serve Prometheus metrics on this port.",
    ),
    retention: str | None = RetentionOpt,
    keep_runs: int = KeepRunsOpt,
    snapshot_every: int = typer.Option(
        10_000,
        "--snapshot-every",
        min=1,
        help="Events folded between two snapshots of the views (a restart replays at most these).",
    ),
) -> None:
    """Run a scheduler replica against an existing NATS (run two or more for HA)."""
    config = service.ServiceConfig(
        replicas=replicas, lease_ttl_s=lease_ttl, instance=instance,
        retention_s=parse_retention(retention), keep_runs=keep_runs, snapshot_every=snapshot_every,
    )  # fmt: skip
    # why 0.0.0.0: a replica is scraped by a Prometheus on another host (compose publishes it)
    metrics = _metrics(metrics_port, "0.0.0.0")
    asyncio.run(
        _serve_and_execute(
            connect_options(server, creds, "jetcron-serve"),
            config,
            None,
            quiet=True,
            metrics=metrics,
        )
    )


@handle_errors
def executor(
    name: str = typer.Option(
        socket.gethostname(), "--name", help="This executor's name (a target of its own)."
    ),
    target: list[str] | None = typer.Option(
        None, "--target", help="Targets to serve (default: its name and 'default')."
    ),
    tags: str = typer.Option(
        "",
        "--tags",
        help="Comma-separated tags: pools it joins and all:<tag> fan-outs it receives.",
    ),
    concurrency: int = typer.Option(4, "--concurrency", help="Runs at the same time."),
    allow: list[str] | None = typer.Option(
        None, "--allow", help="Only these executables may run (repeatable)."
    ),
    allow_shell: bool = typer.Option(False, "--allow-shell", help="Allow shell-string jobs."),
    work_dir: str | None = typer.Option(
        None, "--work-dir", help="Jobs' working directories must be inside this."
    ),
    ack_wait: float = typer.Option(
        30.0,
        "--ack-wait",
        callback=bounded(1),
        help="Seconds before an unacknowledged trigger is redelivered.",
    ),
    drain_timeout: float = typer.Option(
        30.0, "--drain-timeout", help="On SIGTERM, let running jobs finish this long."
    ),
    scheduler_key: list[str] | None = typer.Option(
        None,
        "--scheduler-key",
        envvar="JETCRON_SCHEDULER_KEYS",
        help="Run only triggers signed by this scheduler nkey (public, U...; repeatable; "
        "`jetcron auth user list` shows it).",
    ),
    journal_dir: Path | None = typer.Option(
        None,
        "--journal-dir",
        help="Where running jobs are journaled so they survive a crash of this executor "
        "(default: $XDG_STATE_HOME/jetcron/executors/NAME, i.e. ~/.local/state/...).",
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="Start even if an executor of this name is online (one that crashed on another "
        "host: its heartbeat expires within 3 intervals, 15 s by default); a live one it "
        "replaces stops at its next heartbeat.",
    ),
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

    async def main() -> None:
        stop, force = asyncio.Event(), asyncio.Event()
        _install_signals(stop, force)
        opts = connect_options(server, creds, f"jetcron-executor-{name}")
        watch = ConnectionWatch(f"NATS at {', '.join(opts.urls())}")
        nc = await _first_or_none(connect(opts, persistent=True, watch=watch), stop)
        if nc is None:
            return
        try:
            await executing.check_targets(nc, config)
            claim, note = await executing.claim_name(nc, config, replace=replace)
            hello = executing.startup_line(name, targets, tag_list, opts.urls(), work_dir)
            for line in (note, hello):
                if line:
                    out.print(line, highlight=False, markup=False)
            await _executor(nc, config, stop, force, claim)
        finally:
            await close(nc)

    if concurrency < 1:
        raise InvalidInput("--concurrency must be >= 1")
    asyncio.run(main())
