"""`jetcron up`: everything on one machine: its own nats-server (or one given), the scheduler
service, an executor and the web console."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import typer

from jetcron import service
from jetcron.cli.common import bounded, connect_options, echo, handle_errors
from jetcron.cli.context import inherit_typed
from jetcron.cli.embedded import embedded_nats, secure_nats
from jetcron.cli.serving import (
    KeepRunsOpt,
    MetricsPortOpt,
    Parts,
    RetentionOpt,
    parse_retention,
    serve_and_execute,
)
from jetcron.cli.startup import metrics, out
from jetcron.connect import ConnectOptions
from jetcron.datadir import undone_on_failure
from jetcron.errors import InvalidInput
from jetcron.server import NatsServer

DataDirOpt = typer.Option(
    Path(".jetcron"),
    "--data-dir",
    help="Where the log (JetStream store), server log and the local executor's journal live "
    "(with --server: the journal only).",
)
PortOpt = typer.Option(
    4222, "--port", callback=bounded(1, 65535), help="Client port of the embedded nats-server."
)
UpServerOpt = typer.Option(
    "",
    "--server",
    "-s",
    envvar="JETCRON_UP_SERVER",
    help="Use this NATS instead of starting one.",
    callback=inherit_typed,  # why: `jetcron -s URL up` means `jetcron up -s URL`
)
NoExecutorOpt = typer.Option(False, "--no-executor", help="Do not run a local executor.")
AllowShellOpt = typer.Option(
    False, "--allow-shell", help="Let the local executor run shell strings."
)
SecureOpt = typer.Option(
    False,
    "--secure",
    help="Users with roles and TLS: the embedded server requires both (a local CA and the "
    "identities are made in DATA_DIR/auth on first use; once secured, `up` stays so).",
)
HttpPortOpt = typer.Option(
    8080,
    "--http-port",
    callback=bounded(0, 65535),
    help="Serve the web console and API on 127.0.0.1:PORT (0: off).",
)

TokenFileOpt = typer.Option(
    None,
    "--token-file",
    metavar="FILE",
    help="Tokens and roles for the console and API, as `jetcron web --token-file` takes them.",
)


@handle_errors
def up(
    data_dir: Path = DataDirOpt,
    port: int = PortOpt,
    server: str = UpServerOpt,
    no_executor: bool = NoExecutorOpt,
    allow_shell: bool = AllowShellOpt,
    metrics_port: int | None = MetricsPortOpt,
    retention: str | None = RetentionOpt,
    secure: bool = SecureOpt,
    http_port: int = HttpPortOpt,
    keep_runs: int = KeepRunsOpt,
    token_file: Path | None = TokenFileOpt,
) -> None:
    """Start everything locally: nats-server (JetStream), the scheduler service and an executor."""
    from jetcron.cli import executing

    if token_file is not None:
        from jetcron.web.auth import load_tokens

        load_tokens(token_file)  # why: a broken file is said (exit 2) before anything starts
    config = service.ServiceConfig(retention_s=parse_retention(retention), keep_runs=keep_runs)
    executor_name = None if no_executor else socket.gethostname()
    with contextlib.ExitStack() as stack:
        embedded, opts, executor_opts, trusted = _nats(
            stack, server, data_dir, port, executor_name, secure=secure
        )
        web_socket = _web_socket(0 if trusted else http_port)
        # why 127.0.0.1: everything `up` serves is local (its nats-server, its console)
        served = metrics(metrics_port, "127.0.0.1")
        if trusted and http_port:
            _say_no_console()
        runner = (
            executing.up_config(executor_name, allow_shell, data_dir, trusted)
            if executor_name
            else None
        )
        parts = Parts(
            config=config, runner=runner, executor_opts=executor_opts, web_socket=web_socket,
            web_tokens=token_file, embedded=embedded, metrics=served,
        )  # fmt: skip
        asyncio.run(serve_and_execute(opts, parts))
    out.print("jetcron stopped")


def _nats(
    stack: contextlib.ExitStack,
    server: str,
    data_dir: Path,
    port: int,
    executor_name: str | None,
    *,
    secure: bool,
) -> tuple[NatsServer | None, ConnectOptions, ConnectOptions | None, list[str]]:
    """The NATS `up` uses (given with -s, else its own, secured if asked or secured before),
    entered on `stack`: the server it started, the scheduler's and the executor's connect
    options, and the scheduler keys the executor trusts."""
    if server:
        opts = connect_options(server, None, "jetcron-up")
        # why: with -s nothing is started; an unreachable URL would otherwise look like a hang
        echo(f"up -s: using the NATS at {server} (starting no nats-server of its own)")
        return None, opts, None, []
    if secure or _secured(data_dir):
        with undone_on_failure(data_dir):
            embedded, _, opts, executor_opts, trusted = stack.enter_context(
                secure_nats(data_dir, port, executor_name)
            )
        return embedded, opts, executor_opts, trusted
    with undone_on_failure(data_dir):
        embedded = stack.enter_context(embedded_nats(data_dir, port))
    return embedded, ConnectOptions(servers=embedded.url, name="jetcron-up"), None, []


def _secured(data_dir: Path) -> bool:
    from jetcron.auth.local import secured

    return secured(data_dir / "auth")


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


def _say_no_console() -> None:
    # why: a token-less console would let anyone on this host act without a NATS identity
    out.print(
        "web console not started under --secure: run `jetcron web --token-file F` "
        "with the operator's identity (NATS_CREDS, NATS_CA)",
        highlight=False,
    )
