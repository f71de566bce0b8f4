"""A CLI's connection: fail fast, trying each server of a list in turn within one budget."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from nats.aio.client import Client
from nats.errors import NoServersError

from jetcron.connect.clients import close, new_client, noting
from jetcron.connect.failure import said, unknown_host, unreachable

if TYPE_CHECKING:
    from jetcron.auth.identity import Identity
    from jetcron.connect.options import ConnectOptions

CLI_BUDGET_EXTRA_S = 1.0
"""A CLI connect may take `timeout` plus this, over all the servers it tries."""
PER_SERVER_MIN_S = 1.0
"""Each server of a list has at least this long (or `timeout`, if less) to answer a CLI."""


def per_server(timeout: float, servers: int) -> float:
    """Seconds one of `servers` servers has to answer a CLI connect.

    why not nats-py's own list: it gives the server it picks first the whole connect timeout
    and, without reconnects (a CLI), never tries another; a hung first pick (SIGSTOP, a frozen
    VM) failed half the commands of a 3-node cluster with two servers fine (newcomer17b).
    """
    return max(timeout / max(1, servers), min(timeout, PER_SERVER_MIN_S))


async def connect_cli(
    opts: ConnectOptions,
    kwargs: dict[str, Any],
    found: Identity | None,
    timeout: float,
    on_error: Callable[[Exception], Awaitable[None]],
) -> Client:
    """Try the servers in random order (as nats-py would), each for `per_server` seconds,
    within `timeout + CLI_BUDGET_EXTRA_S` in all; the first that answers wins."""
    urls = list(kwargs["servers"])
    each = per_server(timeout, len(urls))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout + CLI_BUDGET_EXTRA_S
    tried: list[tuple[list[str], str]] = []
    for url in random.sample(urls, len(urls)):
        left = deadline - loop.time()
        if left <= 0.05:
            tried.append(
                ([url], f"not tried (the {timeout + CLI_BUDGET_EXTRA_S:g}s budget ran out)")
            )
            continue
        wait = min(each, left)
        nc, seen = new_client(found), _Seen(on_error)
        try:
            args = kwargs | {"servers": [url], "connect_timeout": wait}
            await _within(nc.connect(**args, error_cb=noting(nc, seen.error)), wait + 0.5)
            return nc
        except Exception as err:
            tried.append(([url], said(seen.cause(err), wait)))
            await _discard(nc)
    unknown_host(urls)
    raise unreachable(opts, tried)


class _Seen:
    """The errors nats-py reported while one server was tried (its final error hides them)."""

    def __init__(self, then: Callable[[Exception], Awaitable[None]]) -> None:
        self.then = then
        self.first: Exception | None = None

    async def error(self, err: Exception) -> None:
        """nats-py's error callback: remember the first, pass every one on."""
        self.first = self.first or err
        await self.then(err)

    def cause(self, err: Exception) -> Exception:
        """What went wrong: `err`, unless it only says nats-py ran out of servers."""
        if isinstance(err, NoServersError) and self.first is not None:
            return self.first
        return err


async def _discard(nc: Client) -> None:
    """Close a client whose connect failed (its socket to a hung server among it), briefly."""
    with contextlib.suppress(Exception):
        await _within(close(nc), 0.5)


async def _within(aw: Awaitable[None], seconds: float) -> None:
    """Await `aw` for at most `seconds` (TimeoutError after); cancelled, cancel it and wait.

    why not asyncio.wait_for: when a Ctrl-C cancels us in the instant nats-py's own connect
    timeout fires, 3.11's wait_for leaves the connect's TimeoutError unretrieved, and asyncio
    logs it with a traceback as the CLI exits.
    """
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        await _settle(task)
        raise
    if not done:
        await _settle(task)
        raise TimeoutError
    task.result()


async def _settle(task: asyncio.Future[None]) -> None:
    """Cancel a task and wait until it ends; whatever it ended with is retrieved and dropped."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # why: a failure of its own, racing the cancel: seen, not logged
