"""A nats-server secured by `jetcron auth`, and clients of it by user (helpers, not fixtures)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from nats.aio.client import Client

from conftest import require_nats_server
from jetcron.auth.store import AuthDir
from jetcron.connect import ConnectOptions, connect
from jetcron.server import NatsServer

USERS = [
    ("alice", "operator", ()),
    ("audrey", "auditor", ()),
    ("host-a", "executor", ("host-a",)),
    ("host-b", "executor", ("host-b",)),
]


class Secured:
    """A running nats-server with an auth dir; `client(user)` connects as one of its users."""

    def __init__(self, auth: AuthDir, server: NatsServer) -> None:
        self.auth, self.server = auth, server
        self.errors: dict[str, list[str]] = {}

    @property
    def url(self) -> str:
        return self.server.url

    def creds(self, user: str) -> str:
        return str(self.auth.identity_file(user))

    def options(self, user: str | None) -> ConnectOptions:
        return ConnectOptions(servers=self.url, creds=self.creds(user) if user else None)

    async def client(self, user: str | None) -> Client:
        """A client as `user`; the server's asynchronous errors land in errors[user]."""
        seen = self.errors.setdefault(str(user), [])

        async def on_error(err: Exception) -> None:
            seen.append(str(err))

        return await connect(self.options(user), on_error=on_error)

    async def violation(self, user: str, attempt: Callable[[], Awaitable[object]]) -> str:
        """Run `attempt` as `user` and return the permissions violation the server reported."""
        seen = self.errors.setdefault(user, [])
        before = len(seen)
        with contextlib.suppress(Exception):  # why: a denied request times out; that is expected
            await attempt()
        for _ in range(100):
            new = [e for e in seen[before:] if "permissions violation" in e.lower()]
            if new:
                return new[0]
            await asyncio.sleep(0.02)
        raise AssertionError(f"{user}: no permissions violation reported (errors: {seen})")


@contextlib.contextmanager
def secured_server(tmp_path: Path) -> Iterator[Secured]:
    """An auth dir with the initial users plus USERS, and a nats-server enforcing it."""
    auth = AuthDir(tmp_path / "auth")
    auth.init()
    for name, role, targets in USERS:
        auth.add(name, role, targets=targets)
    server = NatsServer(
        data_dir=tmp_path / "nats",
        include=auth.server_conf,
        pid_file=auth.pid_file,
    )
    with server:
        yield Secured(auth, server)


def started(tmp_path: Path) -> Iterator[Secured]:
    """`secured_server` once a nats-server is known to be there: a test module's `sec` fixture
    yields from this."""
    require_nats_server()
    with secured_server(tmp_path) as sec:
        yield sec
