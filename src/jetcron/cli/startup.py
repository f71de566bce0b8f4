"""Start-up plumbing of the long-running commands (`up`, `serve`, `executor`): signals, a
connection that waits for NATS, a task group's real error, the metrics port."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from nats.aio.client import Client
from rich.console import Console

from jetcron.cli.common import EXIT_INFRASTRUCTURE
from jetcron.connect import ConnectOptions, connect
from jetcron.errors import InvalidInput
from jetcron.log.connection import ConnectionWatch

if TYPE_CHECKING:
    from jetcron.projections.metrics import Metrics

log = logging.getLogger(__name__)
out = Console(stderr=True, soft_wrap=True)  # why: lines stay whole in a log file (grep, copy)
T = TypeVar("T")


def install_signals(stop: asyncio.Event, force: asyncio.Event | None = None) -> None:
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


async def connected(
    opts: ConnectOptions, stop: asyncio.Event, watch: ConnectionWatch
) -> Client | None:
    """A persistent connection (reconnecting forever, its outages told to `watch`), or None
    if stopped first; IdentityRefused if the server refuses its identity. If it refuses it
    later (a revoke), that is said and `stop` is set: the caller ends with `exit_if_refused`."""
    nc = await first_or_none(connect(opts, persistent=True, watch=watch), stop)
    if nc is not None:
        task = asyncio.create_task(_stop_when_refused(watch, stop), name="identity refused")
        _watchers.add(task)
        task.add_done_callback(_watchers.discard)
    return nc


_watchers: set[asyncio.Task[None]] = set()
"""The tasks waiting for a refusal (asyncio itself holds tasks only weakly)."""


async def _stop_when_refused(watch: ConnectionWatch, stop: asyncio.Event) -> None:
    line = await watch.refused()
    if not stop.is_set():
        # why: a revoked identity is refused forever; "unreachable, reconnecting" would be false
        out.print(f"stopping: {line}", highlight=False, markup=False)
        stop.set()


def exit_if_refused(watch: ConnectionWatch) -> None:
    """Exit 1 if the process stopped because the server refused its identity (said then)."""
    if watch.refusal is not None:
        raise typer.Exit(EXIT_INFRASTRUCTURE)


async def first_or_none(aw: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
    """aw's result, or None if stop is set first (Ctrl-C while waiting for NATS)."""
    task, stopped = asyncio.ensure_future(aw), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        return task.result() if task.done() else None
    finally:
        task.cancel()
        stopped.cancel()


def cause(group: BaseExceptionGroup[BaseException]) -> BaseException:
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


def metrics(port: int | None, host: str) -> Metrics | None:
    """Prometheus metrics on host:port, served from now on; None if off, or (said on stderr,
    the rest runs, as for `up`'s console) if the port is taken."""
    if port is None:
        return None
    from jetcron.projections.metrics import Metrics

    served = Metrics(port, host)
    try:
        served.start()
    except InvalidInput as err:
        out.print(f"metrics not served: {err}; the rest runs without them", highlight=False)
        return None
    return served
