"""`jetcron auth ...`: users with roles (nkeys), and the nats-server config that enforces them.

Offline: these commands write files in the auth dir (default .jetcron/auth) and never connect;
a running nats-server picks the change up on a config reload, which `user add` and `revoke`
trigger themselves for the embedded server of `jetcron up --secure`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from jetcron.cli.common import JsonOpt, echo, handle_errors, print_json, table

if TYPE_CHECKING:
    from jetcron.auth.store import AuthDir

app = typer.Typer(
    help="Users with roles (nkeys) and the nats-server config that enforces them.",
    no_args_is_help=True,
)
user_app = typer.Typer(help="Add, list and revoke users.", no_args_is_help=True)
app.add_typer(user_app, name="user")

DirOpt = typer.Option(
    Path(".jetcron/auth"),
    "--dir",
    envvar="JETCRON_AUTH_DIR",
    help="The auth directory (users, identity files, nats-server config).",
)


def _auth(path: Path) -> AuthDir:
    from jetcron.auth.store import AuthDir

    return AuthDir(path)


@app.command()
@handle_errors
def init(directory: Path = DirOpt) -> None:
    """Create the auth dir: the admin and scheduler users and a nats-server config."""
    auth = _auth(directory)
    made = auth.init()
    for user, path in made:
        echo(f"created {user.role} {user.name!r}: {path}")
    if not made:
        # why: a new jetcron's roles reach an old auth dir this way (README, Security)
        echo(
            f"{directory} is already set up: no user added; auth.conf rewritten from the "
            "current roles (reload the servers for it to take effect)"
        )
    echo(f"nats-server config: {auth.server_conf} (nats-server -c {auth.server_conf} ...)")
    echo(
        f"next: jetcron auth user add NAME --role operator --dir {directory}; "
        "executors: --role executor --target HOST"
    )


@user_app.command("add")
@handle_errors
def user_add(
    name: str = typer.Argument(..., help="The user (a person, or an executor's --name)."),
    role: str = typer.Option(..., "--role", help="admin, operator, auditor, executor, scheduler."),
    target: list[str] | None = typer.Option(
        None, "--target", help="Executor: a target it serves (repeatable; default NAME, default)."
    ),
    tag: list[str] | None = typer.Option(
        None, "--tag", help="Executor: a tag whose pool and fan-out it serves (repeatable)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the identity file here (default DIR/users/NAME.nk)."
    ),
    directory: Path = DirOpt,
) -> None:
    """Add a user with a fresh nkey; writes its identity file (pass it as --creds)."""
    auth = _auth(directory)
    user, path = auth.add(name, role, targets=tuple(target or ()), tags=tuple(tag or ()), out=out)
    echo(f"added {user.role} {user.name!r} ({user.public_key}); identity file: {path}")
    echo(f"use it: --creds {path}  (or export NATS_CREDS={path})")
    _reloaded(auth)


@user_app.command("list")
@handle_errors
def user_list(directory: Path = DirOpt, as_json: bool = JsonOpt) -> None:
    """Every user: role, targets, public key, when added and revoked."""
    users = _auth(directory).users()
    if as_json:
        print_json(users)
        return
    rows = [
        [u.name, u.role, ",".join([*u.targets, *(f"tag:{t}" for t in u.tags)]), u.created_at,
         u.revoked_at or "", u.public_key]
        for u in users
    ]  # fmt: skip
    table(None, ["name", "role", "targets", "added", "revoked", "public key"], rows)


@user_app.command("revoke")
@handle_errors
def user_revoke(
    name: str = typer.Argument(..., help="The user to revoke."), directory: Path = DirOpt
) -> None:
    """Revoke a user: removed from the server config, refused after the next reload; its
    identity file in the auth dir is removed (copies elsewhere are refused too)."""
    auth = _auth(directory)
    kept = auth.identity_file(name)
    had = kept.exists()
    user = auth.revoke(name)
    removed = f"; its identity file {kept} was removed" if had else ""
    echo(f"revoked {user.role} {user.name!r} at {user.revoked_at}{removed}")
    _reloaded(auth)


@app.command()
@handle_errors
def permissions(name: str = typer.Argument(..., help="A user."), directory: Path = DirOpt) -> None:
    """The exact NATS permissions of a user, as the server enforces them (JSON)."""
    from jetcron.auth.roles import permissions as of

    users = [u for u in _auth(directory).users() if u.name == name and u.active]
    if not users:
        from jetcron.errors import InvalidInput

        raise InvalidInput(f"no active user {name!r} in {directory}")
    print_json(of(users[-1]))


@app.command()
@handle_errors
def cert(
    name: str = typer.Argument(..., help="Whose certificate (a user or a host)."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for NAME-cert.pem and NAME-key.pem (default DIR/certs)."
    ),
    directory: Path = DirOpt,
) -> None:
    """Issue a client certificate from the auth dir's CA, for servers that verify clients (mTLS).

    The certificate only gates the network: the nkey (--creds) is the identity, and any
    certificate of the CA lets any nkey through the handshake (nats-server cannot bind one to
    an nkey user). Revoking a user does not revoke its certificate: to retire certificates,
    rotate the CA (a new `auth tls`, then `auth cert` for each active user; README, Security).
    """
    from jetcron.auth.tls import LocalTLS
    from jetcron.errors import InvalidInput

    tls = LocalTLS(directory)
    if not tls.exists:
        raise InvalidInput(
            f"{directory} has no CA: run `jetcron auth tls` (or `up --secure`) first"
        )
    _check_user(_auth(directory), name)
    cert_file, key_file = tls.client(name, out or directory / "certs")
    echo(f"--tls-cert {cert_file} --tls-key {key_file} (or NATS_CERT / NATS_KEY)")


def _check_user(auth: AuthDir, name: str) -> None:
    """InvalidInput unless `name` is an active user of an initialised auth dir (a typo, or a
    revoked user, would get a certificate nobody may use); a dir with only a CA (`auth tls`
    alone) has no users to check against."""
    from jetcron.domain.fields import did_you_mean
    from jetcron.errors import InvalidInput

    if not auth.exists:
        return
    mine = [u for u in auth.users() if u.name == name]
    if not mine:
        known = sorted({u.name for u in auth.users() if u.active})
        raise InvalidInput(
            f"no user {name!r} in {auth.path}{did_you_mean(name, known)} "
            "(`jetcron auth user list`; add one with `jetcron auth user add`)"
        )
    if not any(u.active for u in mine):
        raise InvalidInput(
            f"user {name!r} was revoked at {mine[-1].revoked_at}: no certificate for it "
            "(add the user again first)"
        )


@app.command("tls")
@handle_errors
def tls_(
    host: list[str] = typer.Option(
        ..., "--host", help="A name or address the servers are reached by (repeatable)."
    ),
    directory: Path = DirOpt,
) -> None:
    """Make a CA and one certificate for every nats-server of a cluster (client and route TLS)."""
    from jetcron.auth.tls import LocalTLS
    from jetcron.errors import InvalidInput

    tls = LocalTLS(directory)
    if not tls.ensure(["localhost", "127.0.0.1", *host]):
        raise InvalidInput(f"{directory} already has a CA and server certificate ({tls.cert})")
    echo(f"CA {tls.ca}; servers: {tls.cert}, {tls.key} (for {', '.join(host)})")


def _reloaded(auth: AuthDir) -> None:
    """Reload the embedded server if one runs on this dir; else say what to reload."""
    pid = auth.reload_embedded()
    if pid is not None:
        echo(f"reloaded the embedded nats-server (pid {pid})")
    else:
        echo(
            f"{auth.auth_conf} rewritten: reload each nats-server that includes it "
            "(nats-server --signal reload=PID, or SIGHUP)"
        )
