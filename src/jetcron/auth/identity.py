"""Identity files: an nkey seed in NATS's decorated format, with the jetcron user it belongs to.

    # jetcron user alice (operator): keep this file secret
    -----BEGIN USER NKEY SEED-----
    SUA...
    ------END USER NKEY SEED------

`nats --nkey FILE` reads the same file. A JWT `.creds` file (operator mode) is passed through.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import msgspec

from jetcron.errors import InvalidInput

_USER = re.compile(r"^# jetcron user (\S+)(?: \((\w+)\))?")
_SEED = re.compile(r"^(SU[A-Z2-7]{56})$")
JWT_MARK = "BEGIN NATS USER JWT"


class Identity(msgspec.Struct, frozen=True):
    """What a credentials file holds: a JWT creds file, or a user seed (and maybe our name)."""

    path: str
    seed: str | None = None
    user: str | None = None
    """The jetcron user name (sets the inbox prefix its permissions allow)."""
    role: str | None = None
    """Its role as the file says when it was issued (`jetcron auth`); None: not said."""

    @property
    def jwt(self) -> bool:
        """A NATS `.creds` file (user JWT + seed), for servers in operator mode."""
        return self.seed is None


def render(user: str, role: str, seed: str) -> str:
    """The text of a user's identity file."""
    return (
        f"# jetcron user {user} ({role}): keep this file secret\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n"
    )


def write(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only (created so, never widened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read(path: str, what: str = "--creds") -> Identity:
    """The identity in a credentials file; InvalidInput naming the file if it holds none."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInput(f"{what} {path}: cannot read it ({err.__class__.__name__})") from None
    if JWT_MARK in text:
        return Identity(path)
    user = seed = role = None
    for line in map(str.strip, text.splitlines()):
        if m := _USER.match(line):
            user, role = m.group(1), m.group(2)
        elif m := _SEED.match(line):
            seed = m.group(1)
    if seed is None:
        raise InvalidInput(f"{what} {path}: no NATS user JWT or user nkey seed (SU...) in it")
    return Identity(path, seed, user, role)
