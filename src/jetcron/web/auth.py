"""Who is asking: bearer tokens mapped to a user name and a role (admin, operator, auditor).

The roles are those of jetcron's NATS security (admin, operator, auditor); this module is the
one place that maps a token to them, so it can later map onto NATS identities instead.

A token file is TOML (or JSON), one entry per user:

    [users.alice]
    role = "admin"
    token = "…"                # or token_sha256 = "<hex>", so the file holds no secret
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import stat
from pathlib import Path
from typing import Any, Literal

import msgspec

from jetcron.domain.fields import did_you_mean
from jetcron.errors import InvalidInput

log = logging.getLogger(__name__)

Role = Literal["admin", "operator", "auditor"]
WRITERS: frozenset[str] = frozenset({"admin", "operator"})
"""Roles that may change schedules and runs; an auditor only reads."""


class User(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated caller: its name is the actor of every change it makes."""

    name: str
    role: Role

    @property
    def can_write(self) -> bool:
        """May create, change, trigger, pause, delete, cancel."""
        return self.role in WRITERS


ROLES: tuple[Role, ...] = ("admin", "operator", "auditor")
RANK: dict[str, int] = {"auditor": 0, "operator": 1, "admin": 2}
"""What a role may do, ordered: each may what the ones below it may."""


class _Entry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: str
    token: str | None = None
    token_sha256: str | None = None


class _File(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    users: dict[str, _Entry] = {}


def digest(token: str) -> str:
    """The SHA-256 hex digest a token file may hold instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """Token digests -> users; empty when no token file is configured (localhost only)."""

    def __init__(self, users: dict[str, tuple[str, Role]] | None = None) -> None:
        self._by_digest = {d: User(name=n, role=r) for d, (n, r) in (users or {}).items()}

    @property
    def configured(self) -> bool:
        """Whether any token exists (the gateway may then bind beyond localhost)."""
        return bool(self._by_digest)

    def beyond(self, nats_role: str) -> list[User]:
        """The users granted more than a gateway whose NATS identity has `nats_role` may do
        (what only they may do is refused by the server: 403)."""
        mine = RANK.get(nats_role, -1)
        return sorted(
            (u for u in self._by_digest.values() if RANK[u.role] > mine), key=lambda u: u.name
        )

    def user(self, token: str) -> User | None:
        """The user of a bearer token, or None (compared in constant time)."""
        wanted = digest(token)
        found = None
        for known, user in self._by_digest.items():
            if hmac.compare_digest(known, wanted):
                found = user
        return found


def load_tokens(path: Path) -> Tokens:
    """A token file (TOML or JSON); InvalidInput naming the file and the problem."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InvalidInput(f"--token-file {path}: {err.strerror or err}") from None
    decode = msgspec.json.decode if path.suffix == ".json" else msgspec.toml.decode
    try:
        parsed = msgspec.convert(_known_keys(decode(raw)), _File)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise InvalidInput(f"--token-file {path}: {err}") from None
    except InvalidInput as err:
        raise InvalidInput(f"--token-file {path}: {err}") from None
    users: dict[str, tuple[str, Role]] = {}
    for name, entry in parsed.users.items():
        role = next((r for r in ROLES if r == entry.role), None)
        if role is None:
            raise InvalidInput(
                f"--token-file {path}: users.{name}.role {entry.role!r}: use {', '.join(ROLES)}"
            )
        key = _key(path, name, entry)
        if key in users:
            # why: one token, two users: the last would silently win (an admin lost to an auditor)
            raise InvalidInput(
                f"--token-file {path}: users.{users[key][0]} and users.{name} have the same "
                "token: give each user its own"
            )
        users[key] = (name, role)
    if not users:
        raise InvalidInput(f"--token-file {path}: no users in it")
    _warn_if_readable(path, any(e.token is not None for e in parsed.users.values()))
    return Tokens(users)


_KEYS = tuple(_Entry.__struct_fields__)


def _known_keys(data: Any) -> Any:
    """The decoded file, if every key it holds is one of ours; InvalidInput naming the user
    and the key, with the key meant ("users.alice.tokn: no such key (did you mean 'token'?)"),
    not msgspec's "unknown field `tokn` - at `$.users[...]`", which names neither."""
    if not isinstance(data, dict):
        return data  # why: msgspec.convert says what the file should hold
    for key in data:
        if key != "users":
            raise InvalidInput(f"{key}: no such key{did_you_mean(key, ['users'])}")
    users = data.get("users")
    for name, entry in users.items() if isinstance(users, dict) else ():
        for key in entry if isinstance(entry, dict) else ():
            if key not in _KEYS:
                raise InvalidInput(f"users.{name}.{key}: no such key{did_you_mean(key, _KEYS)}")
    return data


_HEX64 = re.compile(r"[0-9a-f]{64}")
EMPTY = digest("")


def _key(path: Path, name: str, entry: _Entry) -> str:
    """The digest a user's token is known by; InvalidInput for none, both, an empty token or
    a token_sha256 that is no SHA-256 digest (it could never match: a user who cannot sign in)."""
    if (entry.token is None) == (entry.token_sha256 is None):
        both = ", not both" if entry.token is not None else ""
        raise InvalidInput(f"--token-file {path}: users.{name}: give token or token_sha256{both}")
    if entry.token_sha256 is not None:
        key = entry.token_sha256.strip().lower()
        if not _HEX64.fullmatch(key):
            raise InvalidInput(
                f"--token-file {path}: users.{name}.token_sha256: not a SHA-256 digest "
                "(64 hex digits: `printf %s TOKEN | sha256sum`)"
            )
    else:
        # why: a token of blanks is as empty: a client's header cannot carry it
        key = digest((entry.token or "").strip() and (entry.token or ""))
    if key == EMPTY:
        raise InvalidInput(f"--token-file {path}: users.{name}: the token is empty")
    return key


def _warn_if_readable(path: Path, holds_tokens: bool) -> None:
    """Say so when a file that holds tokens in clear may be read by other users.

    why a warning, not a refusal: secrets mounted into containers are often 0444 by design;
    a file of token_sha256 entries holds nothing to steal and is never warned about.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if holds_tokens and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "--token-file %s holds tokens in clear and is readable by others (mode %o): "
            "chmod 600 it, or store token_sha256 instead",
            path,
            stat.S_IMODE(mode),
        )
