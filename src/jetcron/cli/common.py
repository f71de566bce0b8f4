"""What every CLI command shares: connection options, error handling, output.

Imports stay light (no nats until a command connects), so commands that need no server
start fast.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import typer

from jetcron.cli import context, text
from jetcron.errors import InfrastructureError, InvalidInput, JetcronError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from rich.console import Console

    from jetcron.connect import ConnectOptions

P = ParamSpec("P")
T = TypeVar("T")


def _width(stream: Any) -> int | None:
    # why: piped output (scripts, CI logs) should not wrap at rich's default 80 columns,
    # unless COLUMNS says how wide it may be
    return None if stream.isatty() or "COLUMNS" in os.environ else 200


class _LazyConsole:
    """A rich Console made on first use: importing rich costs ~60 ms most commands never need."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            self._console = Console(stderr=self._stderr, width=_width(stream))
        return getattr(self._console, name)


console = cast("Console", _LazyConsole(stderr=False))
err_console = cast("Console", _LazyConsole(stderr=True))

ServerOpt = context.server_option()
CredsOpt = context.creds_option()
ActorOpt = context.actor_option()
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")
ReasonOpt = typer.Option(
    "",
    "--reason",
    "-r",
    metavar="TEXT",
    help="Why; recorded in the log and shown by `jetcron audit`.",
)

MOST = 10_000
"""The largest --limit (or -n) a listing accepts: more is a dump, and `replay` or `export` do that."""


def count_option(default: int | None, *names: str, help: str, most: int | None = MOST) -> Any:
    """A --limit / -n option: a whole number from 1 to `most`, else a one-line usage error."""
    return typer.Option(default, *names, metavar="N", help=help, callback=bounded(1, most))


N = TypeVar("N", int, float)


def bounded(least: float, most: float | None = None) -> Callable[[N | None], N | None]:
    """An option callback: the value from `least` to `most` (or at least `least`), else a
    one-line usage error naming the option (`--port`: must be from 1 to 65535, not 99999)."""

    def check(value: N | None) -> N | None:
        if value is not None and not (least <= value <= (most if most is not None else value)):
            bound = f"from {least:g} to {most:g}" if most is not None else f"at least {least:g}"
            # why: the value as typed (`100000000`, not `1e+08`); click names the option
            raise typer.BadParameter(f"must be {bound}, not {value}")
        return value

    return check


EXIT_INVALID = 2
"""Bad input: a bad spec, zone or name, an unknown schedule or run."""
EXIT_INFRASTRUCTURE = 1
"""No server, no service, a timeout."""


def default_actor() -> str:
    """--actor if given (anywhere on the command line), else $USER@hostname.

    With an identity file the scheduler records the authenticated user as the actor and an
    --actor only as an "on behalf of" note; without --actor there is no note to send ("").
    """
    import getpass
    import socket

    given = context.current().actor
    if given:
        return given
    if connect_options("", None, "").creds_file() is not None:
        return ""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def echo(line: str = "", *, err: bool = False, styled: bool = False) -> None:
    """Plain text to stdout (or stderr), its control characters but newlines and tabs escaped
    (text.visible); `styled`: our own styles in text made safe already (text.clean)."""
    stream = sys.stderr if err else sys.stdout
    stream.write((line if styled else text.visible(line)) + "\n")
    stream.flush()


def fail(message: str, code: int) -> typer.Exit:
    """Print one line to stderr; the Exit to raise."""
    label = "\x1b[1;31merror:\x1b[0m" if sys.stderr.isatty() else "error:"
    echo(f"{label} {text.visible(message)}", err=True, styled=True)
    return typer.Exit(code)


def command_meta(name: str, actor: str | None, reason: str = "") -> dict[str, Any]:
    """The fields every command carries: a fresh id, the time, the actor (--actor or default)."""
    from jetcron import ids

    return {
        "name": name,
        "command_id": ids.new_id(),
        "at": datetime.now(UTC),
        "actor": actor or default_actor(),
        "reason": reason,
    }


def handle_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Map jetcron errors to one stderr line and exit codes: 2 bad input, 1 infrastructure."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            raise  # why: a reader that stopped reading (`| head`) is no error; see stdout_closed
        except InvalidInput as err:
            raise fail(str(err), EXIT_INVALID) from None
        except (InfrastructureError, JetcronError, OSError) as err:
            raise fail(str(err), EXIT_INFRASTRUCTURE) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def stdout_closed() -> typer.Exit:
    """The quiet end of a command whose reader closed the pipe (`| head`): exit 0, no message.

    why: like cat or grep under `head` (a shell with pipefail would fail on 141 for a reader
    that simply had enough); stdout goes to /dev/null so the interpreter's last flush is silent.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (tests)
        pass
    return typer.Exit(0)


WHOLE_PROCESS = False
"""True when the command is the whole process (`jetcron` from a shell, set by `main`)."""


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine from a sync typer command."""
    import asyncio  # why: ~50 ms; commands that need no server never pay for it

    return asyncio.run(_wrap(coro))


async def _wrap(coro: Awaitable[T]) -> T:
    return await coro


def run_until_interrupted(work: Callable[[], Awaitable[None]]) -> bool:
    """Run a command that goes on until Ctrl-C (`--follow`); True if Ctrl-C ended it.

    why: one loop owns SIGINT from the first connect until the loop is closed, so Ctrl-C lands
    the same way wherever it comes (connecting, asking, following) instead of as a
    KeyboardInterrupt inside nats-py's connect or asyncio's own shutdown (a traceback, a
    "coroutine never awaited", a write to a closed wakeup fd). A Ctrl-C in the instant the work
    failed changes nothing: the error stands.
    """
    import asyncio
    import signal

    before = signal.getsignal(signal.SIGINT)
    try:
        return asyncio.run(_until_interrupted(work))
    except KeyboardInterrupt:
        return True  # why: it came before the loop took SIGINT over
    finally:
        # why: in `jetcron`'s own process a Ctrl-C after this, as it prints and exits, would
        # only turn the exit into a SIGINT death (-2) or a traceback; in-process callers
        # (tests, embedding) get their handler back
        signal.signal(signal.SIGINT, signal.SIG_IGN if WHOLE_PROCESS else before)


async def _until_interrupted(work: Callable[[], Awaitable[None]]) -> bool:
    import asyncio
    import contextlib
    import signal

    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    task, stopped = asyncio.ensure_future(work()), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # why: its error (cannot connect …) even if Ctrl-C came at once
            return stop.is_set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task  # why: interrupted, whatever it was doing; it only has to let go
        return True
    finally:
        stopped.cancel()
        # why: ignored while the loop shuts down (the caller restores it after): the command
        # is ending either way, and asyncio's shutdown is not written to be interrupted
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def connect_options(server: str, creds: str | None, name: str) -> ConnectOptions:
    """How this command reaches NATS: its own --server/--creds, else the global options
    (--tls-* too), else the NATS_* variables (read in `connect`), else a secured `up`'s files."""
    from jetcron.auth.local import local_defaults
    from jetcron.connect import ConnectOptions

    given = context.current()
    creds, ca = creds or given.creds, given.tls_ca
    env = os.environ
    no_creds = not (creds or env.get("NATS_CREDS") or env.get("NATS_NKEY"))
    no_ca = not (ca or env.get("NATS_CA"))
    if no_creds or no_ca:
        # why: `jetcron up --secure` writes the operator's identity and its CA where the
        # CLI looks when told nothing else, so its first commands need no flags.
        local_creds, local_ca = local_defaults()
        creds = local_creds if no_creds else creds
        ca = local_ca if no_ca else ca
    return ConnectOptions(
        servers=server or given.server or "",
        creds=creds,
        tls_ca=ca,
        tls_cert=given.tls_cert,
        tls_key=given.tls_key,
        name=name,
    )


async def with_nats(
    server: str,
    fn: Callable[[Client], Awaitable[T]],
    creds: str | None = None,
    *,
    follow: bool = False,
) -> T:
    """Connect (fail fast) with the command's or the global options, call fn, close;
    NotPermitted as soon as the server refuses something fn does.

    follow=True (`runs follow`, `fires --follow`): once connected, ride out outages like a
    service, reconnecting forever and saying so on stderr (its subscriptions come back).
    """
    from jetcron.connect import connect, unless_refused
    from jetcron.log.refusals import refusing

    opts = connect_options(server, creds, "jetcron-cli")
    nc = await connect(opts)
    watch = None
    if follow:
        from jetcron.log.connection import ConnectionWatch

        # why: a fail-fast client closes for good when NATS restarts, and a follower would
        # then wait on a dead subscription forever, silently
        await nc.close()
        watch = ConnectionWatch(f"NATS at {', '.join(opts.urls())}")
        nc = await connect(opts, persistent=True, watch=watch)
    try:
        # why: a publish or subscription the user's role may not make ends the command at once
        # with "not permitted: …", not with a timeout or a silence (newcomer16c #9, #15); an
        # identity the server refuses (revoked) ends a follower with that (newcomer19c #6)
        work = fn(nc) if watch is None else unless_refused(watch, fn(nc))
        return await refusing(nc, work)
    finally:
        await nc.close()


def ask_view(server: str, view: str, params: dict[str, Any] | None = None) -> Any:
    """One query to the projection service (`jetcron.q.<view>`), from a sync command."""
    from jetcron.client import query

    return run(with_nats(server, lambda nc: query(nc, view, params or {})))


def print_json(data: Any) -> None:
    """JSON to stdout (datetimes as ISO-8601 UTC)."""
    import json

    import msgspec

    sys.stdout.write(json.dumps(msgspec.to_builtins(data), indent=2, default=str) + "\n")


def cell(v: Any) -> str:
    """A table cell: empty for None, never a Python repr."""
    return (
        "" if v is None else text.value(v) if isinstance(v, bool | float | list | dict) else str(v)
    )


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    cut: Collection[str] = (),
    drop: Sequence[str] = (),
    keep: Collection[str] = (),
) -> None:
    """A table to stdout, fitted to the terminal: columns named in `drop` are left out first,
    those in `cut` give way next, those in `keep` last (text.render_table)."""
    tty = sys.stdout.isatty()
    columns_env = os.environ.get("COLUMNS", "")
    width: int | None = int(columns_env) if columns_env.isdigit() else None
    if width is None and tty:
        width = os.get_terminal_size(sys.stdout.fileno()).columns
    body = [[cell(v) for v in r] for r in rows]
    fitted = text.render_table(
        title, columns, body, width=width, cut=cut, drop=drop, keep=keep, bold=tty
    )
    echo(fitted, styled=True)


def fmt_time(value: str | datetime | None) -> str:
    """A timestamp for tables: 2026-11-22T13:05:00Z."""
    return text.utc(value)


def fmt_secs(value: float | None) -> str:
    """Seconds for tables, millisecond precision; '-' when unknown."""
    return "-" if value is None else f"{value:.3f}"


def parse_iso(value: str) -> datetime:
    """An ISO-8601 time; naive means UTC. InvalidInput with the offending text otherwise."""
    try:
        return text.parse_time(value)
    except ValueError as err:
        from jetcron.domain.days import ISO_HINT, bad_time

        raise InvalidInput(bad_time(value, ISO_HINT)) from err


def parse_since(value: str, option: str = "--since") -> str:
    """A time option (`--since`, `--until`, `--as-of`): ISO-8601 or a duration back from now
    (`2h`, `3d`), as the ISO time the services take. InvalidInput naming the option otherwise."""
    from jetcron.cli.timing import note_naive
    from jetcron.domain.durations import time_or_ago

    try:
        when = time_or_ago(value, datetime.now(UTC)).isoformat()
    except ValueError as err:
        raise InvalidInput(f"{option}: {err}") from None
    note_naive(value, "UTC", f"{option} reads a time without a zone in UTC")
    return when
