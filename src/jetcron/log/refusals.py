"""What the server's permissions refused on a connection, as the server itself said it.

nats-server drops a publish (or a subscription) its permissions refuse and says so only with an
asynchronous `-ERR 'Permissions Violation for Publish to "SUBJECT"'`, which nats-py hands to the
connection's error callback (connect.py feeds every one to `note`). A request refused that way
is never answered: without this record the caller could only time out and guess. Here each
client keeps the refusals it was told of, and `refusing` ends an operation at the first one,
naming what was refused.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections import deque
from collections.abc import Awaitable
from typing import Any, TypeVar

import msgspec
from nats.aio.client import Client

from jetcron import subjects
from jetcron.errors import NotPermitted

T = TypeVar("T")
_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "([^"]*)"', re.I)
KEPT = 64
"""Refusals remembered per client (a CLI command meets one; a service logs the rest)."""


class Refusal(msgspec.Struct, frozen=True):
    """One permissions violation: a publish or a subscription, and its subject.

    The subject is as nats-py reports it: lowercased (nats-py lowercases the whole -ERR line).
    """

    op: str
    subject: str

    def matches(self, subject: str) -> bool:
        """True if this refusal is of a publish to `subject`."""
        return self.op == "publish" and self.subject == subject.lower()


class Refusals:
    """The refusals one client was told of, and the waiters for the next one."""

    def __init__(self) -> None:
        self.seen: deque[Refusal] = deque(maxlen=KEPT)
        self.count = 0
        """Refusals ever noted (a mark: `since(mark)` looks only at later ones)."""
        self._tolerated: deque[str] = deque(maxlen=KEPT)
        """why bounded: an identity allowed the cleanup is never refused, and never forgets"""
        self._given_up: set[str] = set()
        """Subjects but their last token of tolerated refusals: not tried again."""
        self._waiters: list[asyncio.Future[Refusal]] = []

    def note(self, err: BaseException) -> bool:
        """Record `err` if it is a permissions violation; True if it needs no log line (an
        operation under `refusing` ends with it, or it was tolerated)."""
        found = _VIOLATION.search(str(err))
        if found is None:
            return False
        refusal = Refusal(found.group(1).lower(), found.group(2).lower())
        if refusal.subject in self._tolerated:
            self._tolerated.remove(refusal.subject)
            self._given_up.add(_family(refusal.subject))
            return True  # why: expected by whoever tried it (best effort), no failure
        self.seen.append(refusal)
        self.count += 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(refusal)
        return bool(waiters)

    def tolerate(self, subject: str) -> bool:
        """A refusal of a publish to `subject` is expected and harmless (a best-effort cleanup
        a role may not do): it does not end an operation under `refusing`. False if one like it
        (its subject but the last token) was refused before: do not send it.

        why: a reader's role refusing its consumer deletes once is enough; each try is a line
        in the server's log (the web gateway, an operator, closes a reader per event stream).
        """
        if _family(subject.lower()) in self._given_up:
            return False
        self._tolerated.append(subject.lower())
        return True

    def since(self, mark: int, subject: str | None = None) -> Refusal | None:
        """The first refusal noted after `mark` (of a publish to `subject`, if given)."""
        fresh = list(self.seen)[max(0, len(self.seen) - (self.count - mark)) :]
        return next((r for r in fresh if subject is None or r.matches(subject)), None)

    async def next(self) -> Refusal:
        """The next refusal noted from now on."""
        waiter: asyncio.Future[Refusal] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


def _family(subject: str) -> str:
    return subject.rpartition(".")[0]


_BY_CLIENT: weakref.WeakKeyDictionary[Client, Refusals] = weakref.WeakKeyDictionary()


def of(nc: Client) -> Refusals:
    """The refusals of a client (an empty record for one never refused)."""
    found = _BY_CLIENT.get(nc)
    if found is None:
        found = _BY_CLIENT[nc] = Refusals()
    return found


def refused(nc: Client, subject: str, mark: int) -> Refusal | None:
    """The server's refusal of a publish to `subject` since `mark` (`of(nc).count` before)."""
    return of(nc).since(mark, subject)


def described(refusal: Refusal) -> str:
    """What a refused subject was for, in the words of the CLI (the subject as said)."""
    subject = refusal.subject
    if refusal.op == "subscription":
        return f"subscribing to {subject}"
    for prefix, what in _WHATS:
        if subject.startswith(prefix.lower()):
            return what
    return f"publishing to {subject}"


_WHATS: tuple[tuple[str, str], ...] = (
    (f"{subjects.QUERIES}.", "queries"),
    (f"{subjects.SERVICE_API}.", "queries (service discovery)"),
    (f"{subjects.COMMANDS}.", "commands"),
    (f"$KV.{subjects.SECRETS_BUCKET}.", "putting job secrets"),
    (f"$KV.{subjects.HOOK_SECRETS_BUCKET}.", "putting webhook secrets"),
    (f"$JS.API.STREAM.INFO.{subjects.kv_stream(subjects.SECRETS_BUCKET)}", "putting job secrets"),
    (
        f"$JS.API.STREAM.INFO.{subjects.kv_stream(subjects.HOOK_SECRETS_BUCKET)}",
        "putting webhook secrets",
    ),
    (f"$KV.{subjects.EXECUTORS_BUCKET}.", "this executor name"),
    (
        f"$JS.API.STREAM.INFO.{subjects.object_stream(subjects.SNAPSHOT_BUCKET)}",
        "reading the views' snapshots",
    ),
    (f"$JS.API.CONSUMER.CREATE.{subjects.STREAM}", "reading the log (a consumer of it)"),
    (f"$JS.API.CONSUMER.MSG.NEXT.{subjects.STREAM}", "reading the log (a consumer of it)"),
)


def not_permitted(refusal: Refusal) -> NotPermitted:
    """The error a refusal ends a command with."""
    return NotPermitted(described(refusal), recased(refusal.subject), refusal.op)


_UPPER = frozenset(
    "js api ack kv o srv stream consumer info create delete msg get next direct purge "
    "names list update durable jetcron ping stats".split()
)


def recased(subject: str) -> str:
    """A subject nats-py lowercased, with the case of NATS's own API tokens and of jetcron's
    stream names back (`$JS.API.STREAM.INFO.KV_jetcron_secrets`); other tokens stay as said."""
    if not subject.startswith("$"):
        return subject
    tokens = subject.split(".")
    out = [tokens[0].upper()]
    for token in tokens[1:]:
        if token in _UPPER and out[-1].isupper():
            out.append(token.upper())  # why: only in the uppercase head (a key may say "info")
        elif token.startswith(("kv_", "obj_")) and out[-1].isupper():
            head, _, rest = token.partition("_")
            out.append(f"{head.upper()}_{rest}")
        else:
            out.append(token)
    return ".".join(out)


async def refusing(nc: Client, work: Awaitable[T]) -> T:
    """`work`'s result; NotPermitted as soon as the server refuses one of this client's
    publishes or subscriptions while it runs (`work` is cancelled then).

    why: a refused request is never answered; waiting out its timeout and calling that
    "busy" or "timeout" hides the one thing the user must know (newcomer16c #15).
    """
    task = asyncio.ensure_future(work)
    refusal = asyncio.ensure_future(of(nc).next())
    try:
        await asyncio.wait({task, refusal}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        raise not_permitted(refusal.result())
    finally:
        refusal.cancel()
        if not task.done():
            task.cancel()
            # why: not awaited to its end: nats-py turns a cancelled request into a timeout
            # and some of its calls go on to the next request (ObjectStore.delete purges)
            task.add_done_callback(_dropped)
            await asyncio.wait({task}, timeout=CANCEL_WAIT_S)


CANCEL_WAIT_S = 0.5
"""How long `refusing` lets the refused work wind down before it says why."""


def _dropped(task: asyncio.Future[Any]) -> None:
    """Retrieve what refused work ended with: the refusal is the news, not this."""
    if not task.cancelled():
        task.exception()
