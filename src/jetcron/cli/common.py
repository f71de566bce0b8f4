"""What every CLI command shares: connection options, error handling, output."""

from __future__ import annotations

import asyncio
import functools
import getpass
import json
import socket
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import msgspec
import typer
from nats.aio.client import Client
from rich.console import Console
from rich.table import Table

from jetcron.connect import ConnectOptions, connect
from jetcron.errors import InfrastructureError, InvalidInput, JetcronError

P = ParamSpec("P")
T = TypeVar("T")

# why: piped output (scripts, CI logs) should not wrap at rich's default 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

ServerOpt = typer.Option(
    "",
    "--server",
    "-s",
    envvar="NATS_URL",
    help="NATS server URL(s), comma-separated (default nats://127.0.0.1:4222).",
)
CredsOpt = typer.Option(None, "--creds", envvar="NATS_CREDS", help="NATS user credentials file.")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")
ActorOpt = typer.Option(None, "--actor", help="Who is doing this (default $USER@hostname).")
ReasonOpt = typer.Option(
    "", "--reason", "-r", help="Why; recorded in the log and shown by `jetcron audit`."
)


def default_actor() -> str:
    """$USER@hostname."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def fail(message: str, code: int) -> typer.Exit:
    """Print one line to stderr; the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Map jetcron errors to one stderr line and exit codes: 2 bad input, 1 infrastructure."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except InvalidInput as err:
            raise fail(str(err), 2) from None
        except (InfrastructureError, JetcronError, OSError) as err:
            raise fail(str(err), 1) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine from a sync typer command."""
    return asyncio.run(_wrap(coro))


async def _wrap(coro: Awaitable[T]) -> T:
    return await coro


async def with_nats(
    server: str, fn: Callable[[Client], Awaitable[T]], creds: str | None = None
) -> T:
    """Connect (fail fast), call fn, close."""
    nc = await connect(ConnectOptions(servers=server, creds=creds, name="jetcron-cli"))
    try:
        return await fn(nc)
    finally:
        await nc.close()


def print_json(data: Any) -> None:
    """JSON to stdout (datetimes as ISO-8601 UTC)."""
    sys.stdout.write(json.dumps(msgspec.to_builtins(data), indent=2, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table to stdout."""
    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    console.print(t)


def fmt_time(value: str | datetime | None) -> str:
    """A timestamp for tables: 2026-11-22 13:05:00Z."""
    if value is None or value == "":
        return "-"
    dt = value if isinstance(value, datetime) else parse_iso(str(value))
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_secs(value: float | None) -> str:
    """Seconds for tables, millisecond precision; '-' when unknown."""
    return "-" if value is None else f"{value:.3f}"


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time; naive means UTC. InvalidInput with the offending text otherwise."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as err:
        raise InvalidInput(
            f"invalid time {text!r}: use ISO-8601, e.g. 2026-03-03T14:00:00Z"
        ) from err
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def iso_z(dt: datetime) -> str:
    """UTC ISO-8601 with a Z suffix, second precision."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
