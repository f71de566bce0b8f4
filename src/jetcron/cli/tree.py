"""The command tree of `jetcron`: global options, and commands loaded on demand.

Commands live in their own modules and are imported only when run (or when their own help is
asked for): `jetcron --help` and `preview` import nothing that talks to NATS.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import typer
from typer.core import TyperGroup

from jetcron.cli import context, tweaks

COMMANDS: dict[str, tuple[str, str]] = {
    "schedule": ("jetcron.cli.schedule:app", "Create, change and inspect schedules."),
    "calendar": (
        "jetcron.cli.calendars:app",
        "Named time (maintenance windows, holidays) that schedules exclude or stay in.",
    ),
    "preview": (
        "jetcron.cli.timing:preview",
        "Show the next fire times of a spec (offline unless it names calendars).",
    ),
    "due": (
        "jetcron.cli.timing:due",
        "Upcoming fires across all active schedules, soonest first.",
    ),
    "apply": (
        "jetcron.cli.applying:apply",
        "Make the live schedules, calendars and notification sinks what the files say.",
    ),
    "export": (
        "jetcron.cli.applying:export",
        "Print schedules, calendars and sinks as JSON in the format `jetcron apply` reads.",
    ),
    "runs": (
        "jetcron.cli.runs:app",
        "Run history, output, and runs as they happen.",
    ),
    "fires": (
        "jetcron.cli.fires:fires",
        "Every nominal fire of a schedule in a window, and what became of it.",
    ),
    "why": (
        "jetcron.cli.fires:why",
        "The story of one fire in plain sentences, each with the event it comes from.",
    ),
    "notify": (
        "jetcron.cli.notify:app",
        "Tell people or systems when jobs fail, expectations are missed, ...",
    ),
    "conflicts": (
        "jetcron.cli.conflicts:conflicts",
        "Schedules sharing a target or a tag whose runs would overlap, most overlaps first.",
    ),
    "health": (
        "jetcron.cli.health:health",
        "Problems: failing, flaky or stale schedules, breaker pauses, offline executors, bad events.",
    ),
    "audit": (
        "jetcron.cli.views:audit",
        "Every change: when, who, why, and what changed.",
    ),
    "stats": (
        "jetcron.cli.views:stats",
        "Run statistics per schedule, per executor and overall.",
    ),
    "status": (
        "jetcron.cli.status:status",
        "The system at a glance: log, views, schedules, runs in flight, executors.",
    ),
    "executors": (
        "jetcron.cli.online:executors",
        "Executors online now (from their heartbeats).",
    ),
    "actions": (
        "jetcron.cli.online:actions",
        "Actions the executors online now can run, and who offers them.",
    ),
    "replay": (
        "jetcron.cli.views:replay",
        "Rebuild state from the log, client-side (audits, `--as-of`, `--verify`).",
    ),
    "up": (
        "jetcron.cli.up:up",
        "Start everything locally: nats-server (JetStream), the scheduler service and an executor.",
    ),
    "serve": (
        "jetcron.cli.serving:serve",
        "Run a scheduler replica against an existing NATS (run two or more for HA).",
    ),
    "executor": (
        "jetcron.cli.executor:executor",
        "Run an executor on this host: take the triggers for its targets and run them.",
    ),
    "auth": (
        "jetcron.cli.auth:app",
        "Users with roles (nkeys) and the nats-server config that enforces them.",
    ),
    "web": (
        "jetcron.cli.web:web",
        "Serve the HTTP API (/api/v1) and the web console, a gateway onto NATS.",
    ),
}
"""Command name -> (module:attribute, summary), in the order help lists them. The summary is
the first line of the command's own help (a test keeps them equal), shown by `jetcron --help`
without importing the command."""

OFFLINE = frozenset({"auth"})
"""Commands that never connect: their help lists no connection options, and they take none."""

tweaks.apply()


def polish(command: Any, *, connects: bool = True) -> Any:
    """Plain help, and the global options on every command (and subcommand) that lacks them."""
    # why: rich help imports rich and markdown-it (~75 ms); click's plain help says the same
    command.rich_markup_mode = None
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        for sub in subcommands.values():
            polish(sub, connects=connects)
        return command
    if not connects:
        return command
    have = {p.name for p in command.params}
    command.params += [p for p in context.global_params() if p.name not in have]
    return command


def load(name: str) -> Any:
    """The click command of one entry of COMMANDS, imported now."""
    target, _ = COMMANDS[name]
    module, attr = target.split(":")
    obj = getattr(importlib.import_module(module), attr)
    if isinstance(obj, typer.Typer):
        command: Any = SubGroup.of(obj, name)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    return polish(command, connects=name not in OFFLINE)


class _OnDemand(TyperGroup):
    """A group that builds a subcommand when it is used; its listing needs only summaries."""

    _listing = False

    def summary(self, name: str) -> str | None:
        """The first line of a subcommand's help, without building it (None: no such command)."""
        raise NotImplementedError

    def build(self, name: str) -> Any:
        """The subcommand, built now."""
        raise NotImplementedError

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        summary = self.summary(cmd_name)
        if summary is None:
            return None
        if self._listing:
            return TyperGroup(name=cmd_name, help=summary)
        if cmd_name not in self.commands:
            self.commands[cmd_name] = self.build(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


class LazyGroup(_OnDemand):
    """The root group: a command's module is imported when the command is used.

    Every usage error (of the root or any command under it) ends as one `error:` line and
    exit 2, and a closed stdout ends quietly; --help is click's own.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _one_line_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_errors():
            return super().invoke(ctx)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def summary(self, name: str) -> str | None:
        return COMMANDS[name][1] if name in COMMANDS else None

    def build(self, name: str) -> Any:
        return load(name)


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    from jetcron.cli import usage
    from jetcron.cli.common import fail, stdout_closed

    try:
        yield
    except NoArgsIsHelpError:
        raise  # why: `jetcron schedule` alone shows the help, as click does
    except ClickException as err:
        raise fail(usage.one_line(err), err.exit_code) from None
    except BrokenPipeError:
        raise stdout_closed() from None


class SubGroup(_OnDemand):
    """A typer sub-app (`schedule`, `runs`) whose commands typer converts only when used.

    why: typer turns every command's signature into click parameters up front (tens of ms
    for `schedule`); `jetcron schedule list` needs one of them.
    """

    infos: dict[str, Any]

    @classmethod
    def of(cls, sub: typer.Typer, name: str) -> Any:
        """The group of a sub-app; one with a callback or groups of its own is built by typer."""
        if sub.registered_callback or sub.registered_groups:
            return typer.main.get_group(sub)
        info = typer.main.solve_typer_info_defaults(typer.models.TyperInfo(sub))
        group = cls(name=name, help=info.help, no_args_is_help=info.no_args_is_help)
        group.infos = {
            i.name or typer.main.get_command_name(getattr(i.callback, "__name__", "")): i
            for i in sub.registered_commands
        }
        return group

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.infos)

    def summary(self, name: str) -> str | None:
        info = self.infos.get(name)
        if info is None:
            return None
        text = info.help or inspect.getdoc(info.callback) or ""
        return text.strip().splitlines()[0] if text.strip() else ""

    def build(self, name: str) -> Any:
        command = typer.main.get_command_from_info(
            self.infos[name], pretty_exceptions_short=True, rich_markup_mode=None
        )
        return polish(command)


app = typer.Typer(
    name="jetcron",
    cls=LazyGroup,
    help="Event-sourced cron on NATS JetStream. Start locally with `jetcron up`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        from jetcron.cli.version import version_line

        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def _root(
    server: str = context.server_option(context.remember),
    creds: str | None = context.creds_option(context.remember),
    actor: str | None = context.actor_option(context.remember),
    tls_ca: str | None = context.tls_option("tls_ca", context.remember),
    tls_cert: str | None = context.tls_option("tls_cert", context.remember),
    tls_key: str | None = context.tls_option("tls_key", context.remember),
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        show_default=False,
        help="More logging (-v info, -vv debug); or set JETCRON_LOG_LEVEL.",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    setup_logging(verbose)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""One line per record, UTC time with a Z, as `jetcron runs follow` and `up` print events."""
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def setup_logging(verbose: int) -> None:
    """Log to stderr in the one jetcron line format; -v info, -vv debug (or JETCRON_LOG_LEVEL)."""
    import logging
    import os
    import time

    formatter = logging.Formatter(LOG_FORMAT, TIME_FORMAT)
    formatter.converter = time.gmtime  # why: every time jetcron prints is UTC with a Z
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    level = os.environ.get("JETCRON_LOG_LEVEL") or {0: "WARNING", 1: "INFO"}.get(verbose, "DEBUG")
    logging.basicConfig(level=level.upper(), handlers=[handler])
