"""The auth directory: the users (public keys only), their identity files, the server config.

    <dir>/users.json     every user ever added: name, role, targets, public key, revoked?
    <dir>/users/NAME.nk  identity files written by `auth init` / `user add` (0600)
    <dir>/auth.conf      nats-server `authorization` block, regenerated on every change
    <dir>/tls.conf       nats-server `tls` block, when the dir holds a CA and server cert
    <dir>/server.conf    includes both: `nats-server -c <dir>/server.conf` (embedded, compose)

A server picks up a change of auth.conf on a config reload (SIGHUP, `nats-server --signal
reload`): a revoked user's connections are closed then, the log is untouched.
"""

from __future__ import annotations

import json
import os
import re
import signal
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from jetcron.auth import identity
from jetcron.auth.roles import ROLES, Role, User, permissions
from jetcron.errors import InvalidInput

DEFAULT_DIR = Path(".jetcron") / "auth"
INITIAL_USERS: tuple[tuple[str, Role], ...] = (("admin", "admin"), ("scheduler", "scheduler"))
"""Created by `auth init`: the admin (stream administration) and the scheduler replicas."""
PID_FILE = "nats-server.pid"
"""Where an embedded nats-server using this dir writes its pid (so revoke can reload it)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_users = msgspec.json.Decoder(list[User])


class AuthDir:
    """One auth directory (see the module doc)."""

    def __init__(self, path: str | Path = DEFAULT_DIR) -> None:
        self.path = Path(path)
        self.registry = self.path / "users.json"
        self.auth_conf = self.path / "auth.conf"
        self.tls_conf = self.path / "tls.conf"
        self.server_conf = self.path / "server.conf"
        self.pid_file = self.path / PID_FILE

    @property
    def exists(self) -> bool:
        """Initialised (has a users registry)."""
        return self.registry.is_file()

    def identity_file(self, name: str) -> Path:
        """Where `user add` writes NAME's identity file unless told otherwise."""
        return self.path / "users" / f"{name}.nk"

    def users(self) -> list[User]:
        """Every user, revoked ones included, in the order they were added."""
        if not self.exists:
            # why the data dir first: after `up --secure --data-dir X` this said to init a
            # second auth dir, where X/auth was meant (newcomer21c #10)
            raise InvalidInput(
                f"{self.path}: no auth here; a secured `jetcron up --data-dir X` keeps it in "
                "X/auth: pass --dir X/auth or export JETCRON_AUTH_DIR=X/auth (a new one here: "
                f"`jetcron auth init --dir {self.path}`)"
            )
        return _users.decode(self.registry.read_bytes())

    def init(self) -> list[tuple[User, Path]]:
        """Create the dir with the initial users (those missing); the (user, file) created."""
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        if not self.exists:
            self._save([])
        have = {u.name for u in self.users()}
        made = [self.add(n, role) for n, role in INITIAL_USERS if n not in have]
        self.write_config()
        return made

    def add(
        self,
        name: str,
        role: str,
        *,
        targets: tuple[str, ...] = (),
        tags: tuple[str, ...] = (),
        out: Path | None = None,
    ) -> tuple[User, Path]:
        """A new user with a fresh nkey; its identity file is written to `out` (or the dir)."""
        import nkeys  # type: ignore[import-untyped]  # why: ~50 ms (PyNaCl); only to make keys

        _check(name, role, targets, tags)
        users = self.users()
        if any(u.name == name and u.active for u in users):
            raise InvalidInput(f"user {name!r} exists; revoke it first to issue a new key")
        pair = nkeys.from_seed(_new_seed())
        user = User(
            name=name, role=role, public_key=pair.public_key.decode(),  # type: ignore[arg-type]
            targets=targets, tags=tags, created_at=_now(),
        )  # fmt: skip
        path = out or self.identity_file(name)
        identity.write(path, identity.render(name, role, pair.seed.decode()))
        pair.wipe()
        self._save([u for u in users if u.name != name] + [user])
        self.write_config()
        return user, path

    def revoke(self, name: str) -> User:
        """Revoke a user: gone from auth.conf (effective on the next reload), kept in the list;
        its identity file in the dir is removed (a seed nothing accepts; see `revoked_file`)."""
        users = self.users()
        found = next((u for u in users if u.name == name and u.active), None)
        if found is None:
            known = ", ".join(u.name for u in users if u.active) or "none"
            raise InvalidInput(f"no active user {name!r} (active: {known})")
        revoked = msgspec.structs.replace(found, revoked_at=_now())
        self._save([revoked if u is found else u for u in users])
        self.identity_file(name).unlink(missing_ok=True)
        self.write_config()
        return revoked

    def write_config(self) -> None:
        """Regenerate auth.conf (and server.conf, which includes it and tls.conf if present)."""
        _atomic(self.auth_conf, render_auth([u for u in self.users() if u.active]))
        includes = ["include auth.conf"] + (["include tls.conf"] if self.tls_conf.exists() else [])
        _atomic(self.server_conf, "\n".join([_HEADER, *includes, ""]))

    def reload_embedded(self) -> int | None:
        """SIGHUP the embedded nats-server using this dir, if one runs; its pid, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError):
            return None
        return pid

    def _save(self, users: list[User]) -> None:
        _atomic(self.registry, json.dumps(msgspec.to_builtins(users), indent=2) + "\n")


def revoked_file(path: Path) -> str | None:
    """Why an auth dir's identity file is missing, if its user was revoked (`revoke` removes
    it: the seed opens nothing any more); None if that is not what happened."""
    if path.parent.name != "users" or path.suffix != ".nk":
        return None
    auth = AuthDir(path.parent.parent)
    try:
        mine = [u for u in auth.users() if u.name == path.stem] if auth.exists else []
    except (OSError, ValueError):  # why: an unreadable registry only loses the note
        return None
    if not mine or any(u.active for u in mine):
        return None
    return (
        f"user {path.stem!r} was revoked at {mine[-1].revoked_at}, which removed its identity file"
    )


_HEADER = "# generated by `jetcron auth`; do not edit: `jetcron auth user add/revoke` rewrite it"


def render_auth(users: list[User]) -> str:
    """The nats-server `authorization` block for these users (JSON values, one per line)."""
    entries = []
    for user in users:
        perms = msgspec.to_builtins(permissions(user))
        body = {"nkey": user.public_key, "permissions": perms}
        entries.append(f"    # {user.name} ({user.role})\n    {json.dumps(body)}")
    return f"{_HEADER}\nauthorization {{\n  users = [\n" + ",\n".join(entries) + "\n  ]\n}\n"


def _check(name: str, role: str, targets: tuple[str, ...], tags: tuple[str, ...]) -> None:
    if not _NAME.match(name):
        raise InvalidInput(
            f"user name {name!r}: 1-64 letters, digits, '_', '-', '.', '@', starting with a letter or digit"
        )
    if role not in ROLES:
        raise InvalidInput(f"--role {role!r}: one of {', '.join(ROLES)}")
    if (targets or tags) and role != "executor":
        raise InvalidInput("--target and --tag are for executors only")
    for t in (*targets, *tags):
        if not t or any(c in t for c in " *>\t"):
            raise InvalidInput(f"target or tag {t!r}: no spaces or wildcards")


def _new_seed() -> bytes:
    # why: nkeys (the dependency nats-py itself uses) encodes seeds; PyNaCl, its dependency,
    # is the random source; no home-made key format.
    import nacl.signing
    import nkeys

    raw = bytes(nacl.signing.SigningKey.generate())
    return nkeys.encode_seed(raw, nkeys.PREFIX_BYTE_USER)  # type: ignore[no-any-return]


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
