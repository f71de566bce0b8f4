"""`jetcron web`: the HTTP API and the web console (see jetcron.web)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from jetcron.cli.common import CredsOpt, ServerOpt, bounded, echo, handle_errors

if TYPE_CHECKING:
    from jetcron.web.auth import Tokens

HostOpt = typer.Option(
    "127.0.0.1",
    "--host",
    help="Address to listen on; beyond localhost only with --token-file.",
)
TokenFileOpt = typer.Option(
    None,
    "--token-file",
    metavar="FILE",
    help="TOML file of users: [users.NAME] role = admin|operator|auditor, token = '…'.",
)
AllowedHostOpt = typer.Option(
    [],
    "--allowed-host",
    metavar="NAME",
    help="A host name the gateway is reached by besides localhost, IP addresses and --host "
    "(behind a proxy or a DNS name); requests naming any other Host are refused. Repeatable.",
)


@handle_errors
def web(
    host: str = HostOpt,
    port: int = typer.Option(
        8080, "--port", callback=bounded(0, 65535), help="Port to listen on (0: any free port)."
    ),
    token_file: Path | None = TokenFileOpt,
    allowed_host: list[str] = AllowedHostOpt,
    server: str = ServerOpt,
    creds: str | None = CredsOpt,
) -> None:
    """Serve the HTTP API (/api/v1) and the web console, a gateway onto NATS.

    With --token-file, each change is made as the token's user; without, as --actor.
    Requests must name a host it serves, and changes must come from its own console or from
    a client that is not a browser (see README, Security).
    """
    from jetcron.cli import context
    from jetcron.connect import ConnectOptions
    from jetcron.web.serve import gateway_for, listen, serve, url_of

    given = context.current()
    options = ConnectOptions(
        servers=server or given.server or "", creds=creds or given.creds, name="jetcron-web"
    )
    gateway = gateway_for(options, host, token_file, given.actor, allowed_host)
    if options.creds and (said := _granted_beyond(gateway.tokens, options.creds)):
        echo(f"warning: {said}", err=True)
    sock = listen(host, port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        echo(
            f"jetcron web on {url_of(sock)} (API {url_of(sock)}/api/v1/docs). Ctrl-C stops.",
            err=True,
        )
        await serve(gateway, sock, stop)

    asyncio.run(main())


def _granted_beyond(tokens: Tokens, creds: str) -> str | None:
    """One line when the token file grants a role the gateway's own NATS identity lacks.
    why: an admin token through an operator's gateway was refused at its first admin change,
    long after the start (newcomer19c #8)."""
    from jetcron.auth.identity import read

    mine = read(creds).role
    over = tokens.beyond(mine) if mine else []
    if not over:
        return None
    who = ", ".join(f"{u.name} ({u.role})" for u in over)
    return (
        f"--token-file grants {who} more than this gateway's NATS identity ({creds}, "
        f"{mine}) may do: those changes will be refused (403); run it with an admin's --creds"
    )
