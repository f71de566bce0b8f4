"""What `jetcron up --secure` needs in its auth dir: users for each local part, a local CA.

The CLI finds the operator's identity and the CA in the same dir (`local_defaults`), so
commands in the directory `up` runs in need no flags.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from jetcron.auth.roles import Role
from jetcron.auth.store import DEFAULT_DIR, AuthDir
from jetcron.auth.tls import LocalTLS

OPERATOR = "operator"
"""The operator identity `up --secure` writes for the CLI (least privilege for daily use)."""


class LocalSecurity(msgspec.Struct, frozen=True):
    """Files of a secured local start: the server's, and each local process's identity."""

    auth_dir: Path
    server_conf: Path
    pid_file: Path
    ca: Path
    cert: Path
    key: Path
    scheduler: Path
    operator: Path
    admin: Path
    executor: Path | None
    scheduler_key: str
    """The scheduler's public nkey: the local executor runs only triggers it signed."""
    created: tuple[str, ...]
    """What this start created (users, the CA), for the start-up lines."""


def prepare(directory: Path, executor: str | None) -> LocalSecurity:
    """Make sure the auth dir has the admin, scheduler, operator, executor users and a CA."""
    auth = AuthDir(directory)
    created = [f"{u.role} {u.name}" for u, _ in auth.init()]
    have = {u.name for u in auth.users() if u.active}
    wanted: list[tuple[str, Role]] = [(OPERATOR, "operator")]
    if executor is not None:
        wanted.append((executor, "executor"))
    for name, role in wanted:
        if name not in have:
            auth.add(name, role)
            created.append(f"{role} {name}")
    (scheduler,) = [u for u in auth.users() if u.name == "scheduler" and u.active]
    tls = LocalTLS(auth.path)
    if tls.ensure():
        created.append(f"a local CA ({tls.ca})")
    return LocalSecurity(
        auth_dir=auth.path, server_conf=auth.server_conf, pid_file=auth.pid_file,
        ca=tls.ca, cert=tls.cert, key=tls.key,
        scheduler=auth.identity_file("scheduler"), operator=auth.identity_file(OPERATOR),
        admin=auth.identity_file("admin"),
        executor=auth.identity_file(executor) if executor is not None else None,
        scheduler_key=scheduler.public_key,
        created=tuple(created),
    )  # fmt: skip


def secured(directory: Path) -> bool:
    """Was this auth dir set up by `up --secure` (so every later `up` stays secure)?"""
    return AuthDir(directory).exists and LocalTLS(directory).exists


def local_defaults() -> tuple[str | None, str | None]:
    """(identity file, CA) of a secured local start in $JETCRON_AUTH_DIR or ./.jetcron/auth."""
    directory = Path(os.environ.get("JETCRON_AUTH_DIR") or DEFAULT_DIR)
    creds = AuthDir(directory).identity_file(OPERATOR)
    ca = LocalTLS(directory).ca
    return (
        str(creds) if creds.is_file() else None,
        str(ca) if ca.is_file() else None,
    )
