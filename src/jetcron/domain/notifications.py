"""Notification sinks as an operator defines them: where to send, which events, for which schedules."""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Iterable
from typing import Literal, get_args
from urllib.parse import urlsplit

import msgspec

from jetcron import subjects
from jetcron.domain.durations import parse_duration
from jetcron.domain.errors import CommandRejected
from jetcron.errors import InvalidInput

Kind = Literal[
    "failure",
    "timeout",
    "lost",
    "breaker_opened",
    "breaker_closed",
    "expectation_missed",
    "expectation_met",
    "executor_offline",
    "executor_online",
    "schedule_changed",
    "test",
]
"""What a notification can be about (`--on`); `test` is `jetcron notify test` and always sent."""
KINDS: tuple[str, ...] = tuple(k for k in get_args(Kind) if k != "test")
DEFAULT_KINDS: tuple[str, ...] = (
    "failure",
    "timeout",
    "lost",
    "breaker_opened",
    "expectation_missed",
    "expectation_met",
)
"""The bad news and its resolution: what `notify add` subscribes to without `--on`."""
SUBJECT_RE = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")


class Sink(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Exactly one of: a webhook URL (optionally signed), a local command, a NATS subject."""

    webhook: str | None = None
    secret: str = ""
    """HMAC-SHA256 key of the webhook signature ('' : unsigned)."""
    command: list[str] | None = None
    """argv run on the scheduler leader's host with the JSON on stdin (no shell)."""
    subject: str | None = None
    timeout_s: float = 10.0

    @property
    def kind(self) -> str:
        """webhook, command or subject."""
        return "webhook" if self.webhook else "command" if self.command else "subject"

    @property
    def where(self) -> str:
        """The destination, for listings (never the secret)."""
        # why: quoted as `schedule show` quotes a job's argv: `sh -c 'cat >> f'` is 3 words
        return self.webhook or shlex.join(self.command or []) or self.subject or ""


class Notification(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """A sink and its rules: event kinds, and schedules by name or tag (none: every schedule)."""

    name: str
    sink: Sink
    on: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_KINDS))
    schedules: list[str] = []
    tags: list[str] = []
    window_s: float = 60.0
    """Storms: at most one message per schedule per window; later events are grouped."""


def validate_notification_name(name: str) -> str:
    """The name, or CommandRejected explaining the rule."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise CommandRejected(
            f"invalid notification name {name!r}: use 1-64 letters, digits, '_' or '-'"
        )
    return name


def validate_notification(n: Notification) -> Notification:
    """The notification, or CommandRejected naming the first problem."""
    validate_notification_name(n.name)
    s = n.sink
    given = [x for x in (s.webhook, s.command, s.subject) if x]
    if len(given) != 1:
        raise CommandRejected("a notification needs exactly one of --webhook, --command, --subject")
    if s.webhook is not None:
        url = urlsplit(s.webhook)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise CommandRejected(f"invalid --webhook {s.webhook!r}: use an http(s):// URL")
    if s.secret and s.webhook is None:
        raise CommandRejected("--secret signs webhooks only")
    if s.subject is not None and not SUBJECT_RE.fullmatch(s.subject):
        raise CommandRejected(
            f"invalid --subject {s.subject!r}: tokens of letters, digits, '_', '-'"
        )
    if s.subject is not None and subjects.reserved(s.subject):
        # why: the sink publishes as the scheduler, which may append to the log: a sink there
        # would let whoever adds notifications put messages onto the log's (or commands') subjects
        raise CommandRejected(
            f"invalid --subject {s.subject!r}: one of jetcron's own subjects; pick another"
        )
    unknown = [k for k in n.on if k not in KINDS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], KINDS, n=1, cutoff=0.6)
        meant = f" (did you mean {close[0]!r}?)" if close else ""
        raise CommandRejected(
            f"unknown --on kind {unknown[0]!r}{meant}: use one of {', '.join(KINDS)}"
        )
    if s.timeout_s <= 0 or n.window_s < 0:
        raise CommandRejected("timeout must be > 0 and the grouping window >= 0")
    return n


def missing_schedule(n: Notification, known: Iterable[str]) -> str | None:
    """ "no schedule 'helo' (did you mean 'hello'?)" for the first schedule the rule names that
    is not in `known`; None if it names none missing.

    why a refusal (with an opt-in for schedules still to come, which callers name): a rule
    for a misspelt schedule is a failure alert that never comes, and nothing says so.
    """
    names = set(known)
    for name in n.schedules:
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
            return f"no schedule {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    return None


WINDOW, TIMEOUT = "60s", "10s"
"""`notify add`'s defaults (`--window`, `--timeout`), as text."""


class SinkOptions(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """A sink as `notify add`'s options by their long names (`schedules`, `tags` plural):
    a command as shell-like text or an argv, durations as text; what a sink in an `apply`
    file and a POST /api/v1/notifications body carry (defaults left out when written)."""

    webhook: str | None = None
    secret: str = ""
    """The signing key (a file gives `@FILE` or `kv:KEY` instead, never the key itself)."""
    command: str | list[str] | None = None
    """Shell-like text split like `--command` (no shell), or an argv list."""
    subject: str | None = None
    on: list[str] | None = None
    schedules: list[str] | None = None
    tags: list[str] | None = None
    window: str = WINDOW
    timeout: str = TIMEOUT
    allow_missing: bool = False
    """Let `schedules` name a schedule that does not exist yet (the caller checks the rest)."""

    def notification(self, name: str) -> Notification:
        """The validated notification these options describe; InvalidInput or
        CommandRejected naming the option otherwise."""
        return validate_notification(
            Notification(
                name=name,
                sink=Sink(
                    webhook=self.webhook,
                    secret=self.secret,
                    command=_argv(self.command),
                    subject=self.subject,
                    timeout_s=_seconds("--timeout", self.timeout),
                ),
                on=list(dict.fromkeys(self.on or DEFAULT_KINDS)),
                schedules=list(dict.fromkeys(self.schedules or [])),
                tags=list(dict.fromkeys(self.tags or [])),
                window_s=_seconds("--window", self.window),
            )
        )


def _argv(command: str | list[str] | None) -> list[str] | None:
    if command is None or isinstance(command, list):
        if command is not None and not command:
            raise InvalidInput("--command is empty")
        return command
    try:
        argv = shlex.split(command)
    except ValueError as err:
        raise InvalidInput(f"invalid --command {command!r}: {err}") from None
    if not argv:
        raise InvalidInput("--command is empty")
    shell = next((a for a in argv if a in _SHELL_TOKENS), None)
    if shell is not None:
        # why: the command runs without a shell, so `cat > f` would hand '>' and 'f' to cat
        raise InvalidInput(
            f"--command {command!r}: {shell!r} needs a shell, and the command runs without one; "
            f'say so: --command "sh -c {shlex.quote(command)}"'
        )
    return argv


_SHELL_TOKENS = frozenset({">", ">>", "<", "|", "||", "&&", ";", "&", "2>", "2>&1"})
"""Words that mean something only to a shell (given as separate words in a --command text)."""


def _seconds(option: str, value: str) -> float:
    try:
        return parse_duration("0s" if value.strip() == "0" else value).total_seconds()
    except ValueError as err:
        raise InvalidInput(f"{option}: {err}") from None  # why: as --within and --retries say it
