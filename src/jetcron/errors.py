"""The root of every error jetcron raises on purpose."""

from __future__ import annotations


class JetcronError(Exception):
    """Base class: catch this to handle any jetcron failure."""


class InvalidInput(JetcronError, ValueError):
    """Input a user can fix (a spec, a zone, a name, a file); CLI exit code 2."""


class InfrastructureError(JetcronError, RuntimeError):
    """NATS, the stream or a service is unreachable or misbehaving; CLI exit code 1."""


class ServiceUnavailable(InfrastructureError):
    """No scheduler service is listening for a command or query."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(
            f"no jetcron service answered {what}: start one with `jetcron up` "
            "(local, embedded server) or `jetcron serve` (against an existing NATS)"
        )


class NotPermitted(InfrastructureError):
    """nats-server refused a publish (or a subscription): this NATS user's role does not
    allow it."""

    def __init__(self, what: str, subject: str, op: str = "publish") -> None:
        self.what, self.subject = what, subject
        verb = "subscribe" if op == "subscription" else "publish"
        super().__init__(
            f"not permitted: {what}: your NATS user may not {verb} to {subject} "
            "(see `jetcron auth permissions NAME`)"
        )


class NoAnswerInTime(ServiceUnavailable):
    """A service is listening but did not answer in time (busy, stalled, or NATS in trouble)."""

    def __init__(self, what: str, timeout: float, command: bool, hint: str = "") -> None:
        self.what, self.timeout = what, timeout
        # why: a command that timed out may still have been applied; advise looking, not retrying
        # blindly, and never "start a service" (one is there; a second `up` only hits the lock)
        hint = hint or (
            "it may still be applied, now or when a stalled scheduler replica resumes (even "
            "after a later command): check `jetcron audit` before sending it or another again"
            if command
            else "the service is busy or stalled; try again"
        )
        InfrastructureError.__init__(self, f"no answer to {what} within {timeout:g}s; {hint}")


class CommandWithdrawn(ServiceUnavailable):
    """No replica answered a command in time, and it was withdrawn: none will apply it."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what, self.timeout = what, timeout
        InfrastructureError.__init__(
            self,
            f"no answer to {what} within {timeout:g}s; withdrawn: no scheduler replica had "
            "begun it and none will apply it, nothing was changed (send it again)",
        )


class NatsUnreachable(ServiceUnavailable):
    """The connection to NATS is lost (reconnecting), or the server does not answer its own
    PING (stalled): nothing can be asked or sent now."""

    def __init__(self, what: str, stalled: bool = False) -> None:
        self.what = what
        # why: one cause, one wording, whichever moment of an outage a request meets: first
        # a stalled server (its PING unanswered), then the client's reconnecting (newcomer18b F11)
        # and the lead says what happened to the request, not "cannot send" for one that was sent
        lead = f"no answer to {what}" if stalled else f"cannot send {what}"
        how = "it was sent, but no answer came" if stalled else "nothing was sent"
        InfrastructureError.__init__(
            self,
            f"{lead}: NATS is unreachable (the server does not answer, or the "
            f"connection is lost and reconnecting); {how}, try again once NATS is back",
        )
