"""Errors of the log: what JetStream's answers mean to jetcron."""

from __future__ import annotations

from jetcron.errors import InfrastructureError, JetcronError


class ConcurrencyConflict(JetcronError):
    """Someone appended to the subject since we loaded it (JetStream err 10071)."""

    def __init__(self, subject: str, expected: int, detail: str = "") -> None:
        self.subject = subject
        self.expected = expected
        super().__init__(f"{subject}: expected last sequence {expected} {detail}".strip())


class AppendFailed(InfrastructureError):
    """The log did not acknowledge an append after retries."""
