"""The root of every error jetcron raises on purpose."""

from __future__ import annotations


class JetcronError(Exception):
    """Base class: catch this to handle any jetcron failure."""


class InvalidInput(JetcronError, ValueError):
    """Input a user can fix (a spec, a zone, a name, a file); CLI exit code 2."""


class InfrastructureError(JetcronError, RuntimeError):
    """NATS, the stream or a service is unreachable or misbehaving; CLI exit code 1."""


class ServiceUnavailable(InfrastructureError):
    """No scheduler service answered a command or query."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(
            f"no jetcron service answered {what}: start one with `jetcron up` "
            "(local, embedded server) or `jetcron serve` (against an existing NATS)"
        )
