"""Global options (-s/--server, --creds, --tls-*, --actor): accepted before or after the subcommand.

The root command stores them in the click context; every command accepts them too (its own
`--server`, or one added by the command tree), and a value given after the subcommand wins.
This module imports nothing but typer, so `jetcron --help` stays fast.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import typer

# why: typer vendors click (typer._click) and re-exports neither of these
from typer._click.core import ParameterSource
from typer._click.globals import get_current_context

DEFAULT_SERVER = "nats://127.0.0.1:4222"
"""What an empty --server means (connect.DEFAULT_URL; kept here so help needs no nats import)."""


@dataclass
class Globals:
    """The global options as given (None: not given; the command's own default applies)."""

    server: str | None = None
    creds: str | None = None
    actor: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


def current(ctx: Any = None) -> Globals:
    """The global options of the running command (all None outside a jetcron command)."""
    ctx = ctx or get_current_context(silent=True)
    if ctx is None:
        return Globals()
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals()


def remember(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """Store a global option: the root's value always, a subcommand's only if typed there."""
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        root.obj = Globals()
    typed = ctx.get_parameter_source(str(param.name)) is ParameterSource.COMMANDLINE
    if (ctx is root or typed) and value not in (None, ""):
        setattr(root.obj, str(param.name), value)
    return value


def inherit(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """A command's own connection option: its value if typed, else the global one, else its default."""
    if ctx.get_parameter_source(str(param.name)) is ParameterSource.COMMANDLINE:
        remember(ctx, param, value)
        return value
    given = getattr(current(ctx), str(param.name), None)
    return value if given is None else given


def server_option(callback: Any = inherit) -> Any:
    """-s/--server: NATS URL(s)."""
    return typer.Option(
        "",
        "--server",
        "-s",
        envvar="NATS_URL",
        callback=callback,
        metavar="URL",
        help=f"NATS server URL(s), comma-separated (default {DEFAULT_SERVER}).",
    )


def creds_option(callback: Any = inherit) -> Any:
    """--creds: a NATS credentials file."""
    return typer.Option(
        None,
        "--creds",
        envvar="NATS_CREDS",
        callback=callback,
        metavar="FILE",
        help="Identity file: a `jetcron auth` nkey file, or a NATS .creds file (JWT).",
    )


TLS_ENV = {"tls_ca": "NATS_CA", "tls_cert": "NATS_CERT", "tls_key": "NATS_KEY"}
"""The TLS options and the environment variables the nats CLI reads for them."""


def tls_option(name: str, callback: Any = inherit) -> Any:
    """--tls-ca, --tls-cert, --tls-key: TLS to NATS (a CA to trust; a client certificate)."""
    what = {
        "tls_ca": "CA certificate(s) to trust for the NATS server (PEM).",
        "tls_cert": "Client certificate for NATS (PEM), with --tls-key.",
        "tls_key": "Private key of --tls-cert (PEM).",
    }[name]
    return typer.Option(
        None,
        "--" + name.replace("_", "-"),
        envvar=TLS_ENV[name],
        callback=callback,
        metavar="FILE",
        help=what,
    )


def actor_option(callback: Any = inherit) -> Any:
    """--actor: who is doing this (a blank one is none: the default then)."""

    def blank_is_none(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        # why: `--actor '   '` was recorded as the actor "   " while `--actor ''` fell back
        return callback(ctx, param, None if isinstance(value, str) and not value.strip() else value)

    return typer.Option(
        None,
        "--actor",
        envvar="JETCRON_ACTOR",
        callback=blank_is_none,
        metavar="NAME",
        help="Who is doing this (default $USER@hostname); shown by `jetcron audit`.",
    )


@functools.cache
def global_params() -> tuple[Any, ...]:
    """Click parameters for the global options, to add to a command that lacks them.

    One set serves every command: a parameter keeps no state of its own between invocations.
    """

    def holder(
        server: str = server_option(remember),
        creds: str | None = creds_option(remember),
        actor: str | None = actor_option(remember),
        tls_ca: str | None = tls_option("tls_ca", remember),
        tls_cert: str | None = tls_option("tls_cert", remember),
        tls_key: str | None = tls_option("tls_key", remember),
    ) -> None:
        """Only here to have typer build the parameters."""

    app = typer.Typer(add_completion=False)
    app.command()(holder)
    params = tuple(typer.main.get_command(app).params)
    for p in params:
        p.expose_value = False  # why: the command's function does not take them; context does
    return params


def inherit_typed(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """Like `inherit`, but only a global value typed on the command line, not one from NATS_URL.

    why: `jetcron up` starts its own server unless told otherwise; an exported NATS_URL (for
    the other commands) must not turn it into a client of some other server.
    """
    if ctx.get_parameter_source(str(param.name)) is ParameterSource.COMMANDLINE:
        return value
    root = ctx.find_root()
    if root.get_parameter_source(str(param.name)) is not ParameterSource.COMMANDLINE:
        return value
    given = getattr(current(ctx), str(param.name), None)
    return value if given is None else given
