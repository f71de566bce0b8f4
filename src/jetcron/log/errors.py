"""Errors of the log: what JetStream's answers mean to jetcron."""

from __future__ import annotations

from nats.errors import ConnectionReconnectingError, NoRespondersError, StaleConnectionError
from nats.js.errors import ServiceUnavailableError

from jetcron.errors import InfrastructureError, JetcronError


class ConcurrencyConflict(JetcronError):
    """Someone appended to the subject since we loaded it (JetStream err 10071, or 10164 on a cluster)."""

    def __init__(self, subject: str, expected: int, detail: str = "") -> None:
        self.subject = subject
        self.expected = expected
        super().__init__(f"{subject}: expected last sequence {expected} {detail}".strip())


class AppendFailed(InfrastructureError):
    """The log did not acknowledge an append after retries."""


def transient(err: BaseException) -> bool:
    """True for faults that pass when NATS or JetStream is back (timeouts, no responders, 503)."""
    # why: "JetStream not ready" and "no responders" are what a restarting server answers;
    # a bad stream config (400) is not weather and must stop the service with its message.
    if isinstance(err, InfrastructureError | TimeoutError | OSError):
        return True
    if isinstance(err, NoRespondersError | ConnectionReconnectingError):
        return True
    return isinstance(err, ServiceUnavailableError)


def connection_lost(err: BaseException) -> bool:
    """True for the errors a client reports when its connection to NATS drops or cannot be made."""
    return isinstance(err, OSError | TimeoutError | StaleConnectionError)
