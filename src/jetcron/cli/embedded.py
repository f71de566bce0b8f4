"""`up`'s own nats-server: started on the data dir (plain, or with users and TLS), restarted
if it dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from jetcron.cli.startup import out
from jetcron.cli.upstore import StoreWatch
from jetcron.connect import ConnectOptions
from jetcron.datadir import DataDirLock
from jetcron.errors import JetcronError
from jetcron.log.follow import backoff
from jetcron.server import NatsServer

if TYPE_CHECKING:
    from jetcron.auth.local import LocalSecurity


async def supervise(nats: NatsServer, stop: asyncio.Event, every: float = 1.0) -> None:
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


_SAME_USER_WARNING = (
    "[yellow]warning:[/] the local executor runs jobs as this OS user, who can read {auth} "
    "(the admin's key, the CA's key): any operator can become admin with one job; for "
    "isolation use --no-executor and run executors as another OS user (README, Security)"
)
"""why: permissions bind NATS users, not files; a job reads what its OS user may (newcomer16c #3)."""


def exports(opts: ConnectOptions) -> str:
    """What another terminal exports to reach this `up`: the URL, and with a CA (`--secure`)
    the CA and the operator's identity beside it (never the scheduler's own)."""
    url = opts.urls()[0]
    if opts.tls_ca is None:
        return f"export NATS_URL={url}"
    from jetcron.auth.local import OPERATOR
    from jetcron.auth.store import AuthDir

    operator = AuthDir(Path(opts.tls_ca).parent).identity_file(OPERATOR)
    creds = f" NATS_CREDS={operator}" if operator.is_file() else ""
    return f"export NATS_URL={url}{creds} NATS_CA={opts.tls_ca}"


def secured_line(files: LocalSecurity, found: Path) -> str:
    """The line saying where a secured `up`'s identities are and how the CLI finds them;
    `found`: where the CLI of this terminal looks when told nothing ($JETCRON_AUTH_DIR, else
    ./.jetcron/auth, auth.local.local_defaults).

    why: "the CLI here uses …/sec/data/auth/users/operator.nk" was untrue for `--data-dir
    sec/data`: the CLI looks in ./.jetcron/auth, failed with CERTIFICATE_VERIFY_FAILED, and
    `auth user add` said to `auth init` a second auth dir (newcomer21c #10)."""
    made = f" (created {', '.join(files.created)})" if files.created else ""
    head = f"secured: users and TLS in {files.auth_dir}{made}"
    if found.resolve() == files.auth_dir.resolve():
        return (
            f"{head}; the CLI run here finds the operator's identity and the CA there by "
            f"itself (`--creds {files.admin}` to act as admin)"
        )
    return (
        f"{head}; the CLI finds them only when told: export JETCRON_AUTH_DIR={files.auth_dir} "
        f"(`jetcron auth` reads it too; or pass --dir {files.auth_dir}), or export "
        f"NATS_CREDS={files.operator} NATS_CA={files.ca}; admin: --creds {files.admin}"
    )


@contextlib.contextmanager
def secure_nats(
    data_dir: Path, port: int, executor: str | None
) -> Iterator[tuple[NatsServer, str, ConnectOptions, ConnectOptions | None, list[str]]]:
    """The embedded server with users and TLS: the server, its URL, the scheduler's and the
    executor's connect options, and the scheduler key the executor trusts."""
    from jetcron.auth.local import prepare
    from jetcron.auth.store import DEFAULT_DIR

    files = prepare(data_dir.resolve() / "auth", executor)
    with embedded_nats(data_dir, port, secure=files) as nats:
        url = nats.url.replace("nats://", "tls://", 1)
        looks = Path(os.environ.get("JETCRON_AUTH_DIR") or DEFAULT_DIR)
        out.print(secured_line(files, looks), highlight=False, markup=False)

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
def embedded_nats(
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
            # why the scheme: a secured server is reached as tls://, as every later line says
            shown = nats.url.replace("nats://", "tls://", 1) if secure else nats.url
            out.print(
                f"nats-server with JetStream on {shown}, {how} (data in {data_dir}/store, log {data_dir}/nats-server.log)",
                highlight=False,
            )
            yield nats
