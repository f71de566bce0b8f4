"""Errors of the log: what JetStream's answers mean to jetcron."""

from __future__ import annotations

import collections

from nats.errors import ConnectionReconnectingError, NoRespondersError, StaleConnectionError
from nats.js.errors import ServiceUnavailableError

from jetcron import subjects
from jetcron.errors import InfrastructureError, JetcronError


class ConcurrencyConflict(JetcronError):
    """Someone appended to the subject since we loaded it (JetStream err 10071, or 10164 on a cluster)."""

    def __init__(self, subject: str, expected: int, detail: str = "") -> None:
        self.subject = subject
        self.expected = expected
        super().__init__(f"{subject}: expected last sequence {expected} {detail}".strip())


class AppendFailed(InfrastructureError):
    """The log did not acknowledge an append after retries."""


class NoLeader(AppendFailed):
    """JetStream answered an append with "no responders": the stream (or bucket) has no
    leader right now (an election, a lost quorum), or it does not exist (`missing`).

    why: "is the JETCRON stream there?" was said during every election, at ERROR, and named
    JETCRON for a KV bucket's key (newcomer19c #10)."""

    def __init__(self, subject: str, status: str, *, missing: bool = False) -> None:
        self.subject, self.status, self.missing = subject, status, missing
        where = holder_of(subject)
        said = (
            f"{where} does not exist"
            if missing
            else f"no leader for {where} right now (election or lost quorum)"
        )
        super().__init__(f"{subject}: no responders ({status}): {said}")


def holder_of(subject: str) -> str:
    """What stores a subject, in words: `stream JETCRON`, `KV bucket jetcron_lease`, …"""
    parts = subject.split(".")
    if parts[0] == subjects.KV_API and len(parts) > 1:
        return f"KV bucket {parts[1]}"
    if parts[0] == subjects.OBJECT_API and len(parts) > 1:
        return f"object store {parts[1]}"
    return f"stream {subjects.STREAM}"


def stream_of(subject: str) -> str:
    """The stream that stores a subject (a bucket's own stream for KV and objects)."""
    parts = subject.split(".")
    if parts[0] == subjects.KV_API and len(parts) > 1:
        return subjects.kv_stream(parts[1])
    if parts[0] == subjects.OBJECT_API and len(parts) > 1:
        return subjects.object_stream(parts[1])
    return subjects.STREAM


def no_leader(err: BaseException) -> bool:
    """Whether an append failed (perhaps after retries) for want of a stream leader."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, NoLeader):
            return not seen.missing
        seen = seen.__cause__
    return False


STORAGE_FULL = 10023
"""JSInsufficientResourcesErr: the server has no storage left under its JetStream limit."""
STORAGE_FULL_HINT = (
    "JetStream has no storage left (insufficient resources, err_code 10023): nothing can be "
    "appended, so nothing fires or finishes; free disk on the NATS server (its JetStream limit "
    "is 75% of the disk free when it started, unless configured) and restart it, or raise "
    "that limit (a shorter --retention frees nothing now: stored events keep their TTL)"
)
"""why not "or shorten --retention" alone: it only stamps events appended from then on, and
nothing can be appended while the log is full (newcomer21c #6)."""


class LogFull(AppendFailed):
    """JetStream refused an append for want of storage (err 10023)."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(f"{subject}: {STORAGE_FULL_HINT}")


STORE_STUCK_HINT = (
    "nats-server stores no appends: they get no ack while it answers PINGs and its JetStream "
    "API (what a stream does after a critical write error on its store, e.g. no space left on "
    "device, until nats-server restarts); free space on its store's disk, then restart nats-server"
)
"""why: a really full disk gives no err 10023: nats-server logs a critical write error and
leaves each append unanswered, and stays so after space is freed (measured, docs/nats-facts.md)."""


class StorageAlarm:
    """Since when JetStream refuses this process's appends for want of storage (None: it
    does not), and why: what `status` and `health` of the same process report."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.subject = ""
        self.cause = STORAGE_FULL_HINT
        """What stops the appends and what to do (err 10023, or a store nats-server cannot write)."""
        self.stream = ""
        """The stream that stores nothing (a stuck store), or "" (err 10023: the whole account)."""
        self.store = ""
        """Where nats-server keeps its store, if this process knows (`up`: its data dir)."""
        self.stored: collections.Counter[str] = collections.Counter()
        """Appends stored so far, per stream (a late verdict on an older append must not
        raise the alarm; one stream storing proves nothing about another's store)."""

    def refused(
        self, subject: str, now: float, cause: str = STORAGE_FULL_HINT, stream: str = ""
    ) -> None:
        """An append was refused for want of storage (`cause`: why, in one line)."""
        if self.since is None:
            self.since = now
        self.subject, self.cause, self.stream = subject, cause, stream

    def where(self) -> str:
        """What is full, as health names it: the server's store (why: the subject of the last
        refused append, e.g. `$KV.jetcron_lease.ticker`, is not what an operator frees)."""
        if self.store:
            return f"nats-server store {self.store}"
        return f"nats-server store (stream {self.stream})" if self.stream else "JetStream storage"

    def accepted(self, stream: str = "") -> None:
        """An append to `stream` was stored: storage is there again (for that stream, if
        the alarm is about one stream's store; "": room in the account)."""
        if not self.stream or self.stream == stream:
            self.since = None


STORAGE = StorageAlarm()
"""why: one per process; the ticker, the command handler and the views of one `serve` share
it, so the replica that cannot append says so in its own `status` and `health` answers."""


def storage_full(err: BaseException) -> bool:
    """True for JetStream's "insufficient resources" (ours, or nats-py's API error)."""
    return isinstance(err, LogFull) or getattr(err, "err_code", None) == STORAGE_FULL


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
