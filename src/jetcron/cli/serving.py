"""`jetcron serve`, and the scheduler service it runs: the same parts `up` runs beside its
nats-server (its executor, its console, the runs it prints)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import typer
from nats.aio.client import Client

from jetcron import service
from jetcron.cli.common import CredsOpt, ServerOpt, bounded, connect_options, echo, handle_errors
from jetcron.cli.startup import (
    cause,
    connected,
    exit_if_refused,
    first_or_none,
    install_signals,
    metrics,
    out,
)
from jetcron.connect import DEFAULT_URL, ConnectOptions, close
from jetcron.errors import InfrastructureError, InvalidInput
from jetcron.log.connection import ConnectionWatch
from jetcron.log.errors import transient
from jetcron.log.stream import EventLog

if TYPE_CHECKING:
    from jetcron.executors.config import ExecutorConfig
    from jetcron.projections.metrics import Metrics
    from jetcron.server import NatsServer


RetentionOpt = typer.Option(
    None,
    "--retention",
    help="How long triggers, fires and run events (with their output) stay in the log, "
    "e.g. 30d (at least 2d); 'forever' keeps them ('0', 'off' and 'none' are refused as "
    "ambiguous). Definitions, their audit and daily "
    "statistics always stay. "
    "Default: keep the log's current setting (a new log: 30d).",
)
MetricsPortOpt = typer.Option(
    None,
    "--metrics-port",
    callback=bounded(1, 65535),
    help="Serve Prometheus metrics on this port.",
)
KeepRunsOpt = typer.Option(
    500,
    "--keep-runs",
    callback=bounded(0),
    help="Finished runs (and fires) per schedule the views keep in memory; older ones are in "
    "`stats` as daily rollups. 0 keeps all (memory then grows with history).",
)


AMBIGUOUS_RETENTION = ("0", "off", "none", "0s", "no", "never", "")


def parse_retention(text: str | None) -> int | None:
    """--retention as whole seconds (0: forever), or None when not given."""
    if text is None:
        return None
    said = text.strip().lower()
    if said == "forever":
        return 0
    if said in AMBIGUOUS_RETENTION:
        # why: `0`, `off` and `none` read as "keep no history" and meant the opposite,
        # forever, for the whole log (newcomer19c #4)
        raise InvalidInput(
            f"--retention {text}: ambiguous (keep nothing, or forever?): give 'forever' or a "
            "duration of at least 2d"
        )
    from jetcron.domain.durations import parse_duration

    try:
        seconds = int(parse_duration(text).total_seconds())
    except ValueError as err:
        raise InvalidInput(f"--retention: {err}") from None
    from jetcron.projections.rollups import retention_problem

    if (problem := retention_problem(max(seconds, 1))) is not None:  # why: 0 means forever
        raise InvalidInput(f"--retention {text}: {problem}")
    return seconds


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
    metrics_port: int | None = MetricsPortOpt,
    retention: str | None = RetentionOpt,
    keep_runs: int = KeepRunsOpt,
    snapshot_every: int = typer.Option(
        10_000,
        "--snapshot-every",
        callback=bounded(1),
        help="Events folded between two snapshots of the views (a restart replays at most these).",
    ),
) -> None:
    """Run a scheduler replica against an existing NATS (run two or more for HA)."""
    config = service.ServiceConfig(
        replicas=replicas, lease_ttl_s=lease_ttl, instance=instance,
        retention_s=parse_retention(retention), keep_runs=keep_runs, snapshot_every=snapshot_every,
    )  # fmt: skip
    # why 0.0.0.0: a replica is scraped by a Prometheus on another host (compose publishes it)
    served = metrics(metrics_port, "0.0.0.0")
    parts = Parts(config=config, quiet=True, metrics=served)
    asyncio.run(serve_and_execute(connect_options(server, creds, "jetcron-serve"), parts))


@dataclass(frozen=True, kw_only=True)
class Parts:
    """What runs beside the scheduler service (`serve`: nothing but metrics; `up`: the rest)."""

    config: service.ServiceConfig
    runner: ExecutorConfig | None = None
    """The local executor (`up`'s), if any."""
    quiet: bool = False
    """`serve`: one line once serving; else (`up`) a greeting and a line per finished run."""
    executor_opts: ConnectOptions | None = None
    """The executor's own connection (under auth: its own identity); None: the service's."""
    web_socket: socket.socket | None = None
    web_tokens: Path | None = None
    """The console's token file (None: localhost only, everyone admin, as `jetcron web`)."""
    embedded: NatsServer | None = None
    """`up`'s own nats-server, restarted if it dies under us."""
    metrics: Metrics | None = None


async def serve_and_execute(opts: ConnectOptions, parts: Parts) -> None:
    """The scheduler service on a connection to `opts`, and `parts` beside it, until stopped."""
    from jetcron.cli import executing
    from jetcron.cli.embedded import supervise as supervise_nats

    stop, force = asyncio.Event(), asyncio.Event()
    install_signals(stop, force if parts.runner else None)
    embedded = parts.embedded
    supervisor = None if embedded is None else asyncio.create_task(supervise_nats(embedded, stop))
    watch = ConnectionWatch(f"NATS at {', '.join(opts.urls())}")
    nc = await connected(opts, stop, watch)
    if nc is None:
        return
    try:
        if parts.runner is not None:
            await executing.check_name(nc, parts.runner)  # why: refuse before the service starts
        # why: before the service starts, so `up` also prints its own start-up catch-up
        echo_from = None if parts.quiet else await _log_end(nc)
        await _run_parts(nc, opts, watch, parts, echo_from, stop, force)
    except BaseExceptionGroup as group:
        raise cause(group) from None  # why: show what failed, not a wrapper around it
    finally:
        if supervisor is not None:
            supervisor.cancel()
        await close(nc)  # why: a close error ("Connection lost") must not replace the real one
    exit_if_refused(watch)  # why: stopped because NATS refused its identity (newcomer19c #6)


async def _run_parts(
    nc: Client,
    opts: ConnectOptions,
    watch: ConnectionWatch,
    parts: Parts,
    echo_from: int | None,
    stop: asyncio.Event,
    force: asyncio.Event,
) -> None:
    """The service, then (once it is ready) the executor, the console and what is said."""
    from jetcron.cli.echo import echo_runs
    from jetcron.cli.executor import up_claim, up_executor

    ready = asyncio.Event()
    stack = contextlib.AsyncExitStack()
    async with stack, asyncio.TaskGroup() as tg:
        tg.create_task(
            service.run(
                nc,
                stop=stop,
                config=parts.config,
                ready=ready,
                connection=watch,
                metrics=parts.metrics,
            )  # fmt: skip
        )
        if await first_or_none(ready.wait(), stop) is None:
            return
        if parts.runner is not None:
            enc = await _executor_connection(nc, parts.executor_opts, stack, stop)
            if enc is None:
                return
            claim = await up_claim(enc, parts.runner)
            tg.create_task(up_executor(enc, parts.runner, claim, stop, force))
        if parts.web_socket is not None:
            tg.create_task(_web(opts, parts.web_socket, stop, parts.web_tokens))
        if parts.quiet:
            _say_serving(nc, opts, parts.config)
        else:
            tg.create_task(echo_runs(nc, stop, echo_from))
            _say_up(opts)


async def _executor_connection(
    nc: Client,
    opts: ConnectOptions | None,
    stack: contextlib.AsyncExitStack,
    stop: asyncio.Event,
) -> Client | None:
    """The local executor's connection: the service's, or its own (closed by `stack`) if `opts`;
    None if stopped first."""
    if opts is None:
        return nc
    # why: under auth the executor is its own identity (its own permissions)
    enc = await connected(
        opts, stop, ConnectionWatch(f"NATS at {', '.join(opts.urls())} ({opts.name})")
    )
    if enc is not None:
        stack.push_async_callback(close, enc)
    return enc


def _say_serving(nc: Client, opts: ConnectOptions, config: service.ServiceConfig) -> None:
    # why: a replica that says nothing cannot be told from one still connecting
    echo(
        f"scheduler replica {config.holder()} serving at {serving_at(nc, opts.urls())} "
        "(commands, queries; the ticker while it holds the lease). Ctrl-C stops.",
        err=True,
    )


def serving_at(nc: Client, urls: list[str]) -> str:
    """The server this connection reached, and the others given if several were: `nats://a:2
    (of nats://a:1, nats://a:2)`. why: the first URL given was named for every replica, one
    of them connected to the third (newcomer19c #16)."""
    got = nc.connected_url
    reached = urls[0]
    if got is not None and got.hostname:
        reached = f"{got.scheme}://{_bracketed(got.hostname)}:{got.port}"
    return reached if len(urls) < 2 else f"{reached} (of {', '.join(urls)})"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host  # why: an IPv6 address in a URL


def _say_up(opts: ConnectOptions) -> None:
    from jetcron.cli.embedded import exports

    url = opts.urls()[0]
    # why: other terminals find a non-default server only if told where it is (and, secured,
    # with what identity and CA: newcomer19c #15)
    plain = url == DEFAULT_URL and opts.tls_ca is None
    hint = "" if plain else f" (in other terminals: {exports(opts)})"
    out.print(
        f"[green]jetcron is up[/] at {url}{hint} — try "
        "`jetcron schedule add hello '@every 10s' -- echo hi`. Ctrl-C stops.",
        highlight=False,
    )


async def _web(
    opts: ConnectOptions, sock: socket.socket, stop: asyncio.Event, tokens: Path | None
) -> None:
    from jetcron.web.serve import gateway_for, serve, url_of

    gateway = gateway_for(msgspec.structs.replace(opts, name="jetcron-web"), "127.0.0.1", tokens)
    whose = f" (tokens of {tokens})" if tokens else ""
    out.print(f"web console and API on {url_of(sock)}{whose}", highlight=False)
    await serve(gateway, sock, stop)


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
