"""The roles and their NATS permissions, every subject derived from `jetcron.subjects`.

One function, `permissions(user)`, is the whole policy: the server config (`auth.conf`),
the README's roles table and the tests all read it. Nothing else writes a permission.

  admin      everything, stream administration included
  scheduler  the `serve` replicas: the log, the KV buckets (it alone creates them), commands,
             queries, cancels
  operator   send commands, query, read and replay the log; never append to it directly;
             put job secrets (never read them)
  auditor    query, read and replay the log; no commands
  executor   one per host: its own consumers (pull, ack), run events under its own name and
             targets, its own heartbeat key
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

import msgspec

from jetcron import subjects as s
from jetcron.domain.commands import COMMAND_SINK_VERB
from jetcron.log.api import JS_ACK, js_ack, js_api

Role = Literal["admin", "operator", "auditor", "executor", "scheduler"]
ROLES: tuple[Role, ...] = get_args(Role)
ROLE_HELP: dict[Role, str] = {
    "admin": "everything, including stream administration (delete, purge)",
    "operator": "send commands, query, read and replay the log, put job secrets (not get them;"
    " a job it schedules can read them); not add a notification with a command sink",
    "auditor": "query, read and replay the log; no commands",
    "executor": "one host: pull and ack its targets' triggers, append run events under its own"
    " name and targets, read its targets' secrets, heartbeat",
    "scheduler": "a `serve` replica: append to the log, answer commands and queries, lease",
}


class User(msgspec.Struct, frozen=True, kw_only=True):
    """One identity: a name, a role, its nkey's public half; executors also their targets."""

    name: str
    role: Role
    public_key: str
    targets: tuple[str, ...] = ()
    """Executor only: the targets it serves (default: its name and 'default')."""
    tags: tuple[str, ...] = ()
    """Executor only: the tags whose pools and fan-outs it serves."""
    created_at: str = ""
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


class Rules(msgspec.Struct, frozen=True):
    """Allowed and denied subjects of one direction (publish or subscribe)."""

    allow: tuple[str, ...]
    deny: tuple[str, ...] = ()


class Permissions(msgspec.Struct, frozen=True):
    """What nats-server enforces for one user (its `permissions` block)."""

    publish: Rules
    subscribe: Rules
    allow_responses: bool = False
    """May answer the requests it receives (services), whatever their reply subject."""


def executor_targets(user: User) -> tuple[str, ...]:
    """The targets an executor serves: the ones given, else its own name and 'default'."""
    return user.targets or (user.name, "default")


def permissions(user: User) -> Permissions:
    """The permissions of a user, from its role."""
    match user.role:
        case "admin":
            return Permissions(Rules((">",)), Rules((">",)), allow_responses=True)
        case "scheduler":
            return _scheduler(user)
        case "operator":
            return _reader(user, commands=True)
        case "auditor":
            return _reader(user, commands=False)
        case "executor":
            return _executor(user)


def _inbox(user: User) -> str:
    return f"{s.inbox_prefix(user.name)}.>"


def _log_reads() -> list[str]:
    """Reading the log: stream info, direct and API gets (the consumers are another matter)."""
    return [
        js_api("STREAM.INFO", s.STREAM),
        js_api("STREAM.MSG.GET", s.STREAM),
        js_api("DIRECT.GET", s.STREAM),
        js_api("DIRECT.GET", s.STREAM, ">"),
    ]


def _kv_reads(bucket: str) -> list[str]:
    """Reading a KV bucket: its stream's info, gets, and ephemeral consumers on it."""
    stream = s.kv_stream(bucket)
    return [
        js_api("STREAM.INFO", stream),
        js_api("STREAM.MSG.GET", stream),
        js_api("DIRECT.GET", stream),
        js_api("DIRECT.GET", stream, ">"),
        js_api("CONSUMER.CREATE", stream),
        js_api("CONSUMER.MSG.NEXT", stream, "*"),
        js_api("CONSUMER.DELETE", stream, "*"),
    ]


def _snapshot_reads() -> list[str]:
    """Reading an object of the snapshot store (`replay --verify`'s large `state` answer):
    its stream's info, the object's meta (a get), its chunks through an ephemeral consumer;
    never a write, a delete or another's consumer (no CONSUMER.DELETE)."""
    stream = s.object_stream(s.SNAPSHOT_BUCKET)
    return [
        js_api("STREAM.INFO", stream),
        js_api("STREAM.MSG.GET", stream),
        js_api("CONSUMER.CREATE", stream),
        js_api("CONSUMER.MSG.NEXT", stream, "*"),
    ]


def _secret_writes() -> list[str]:
    """Putting job secrets (`--secret-env`) and webhook secrets (`notify add --secret`): put
    keys, check the bucket is as jetcron makes it; never read them back, never create one."""
    # why no STREAM.CREATE: the server checks the create subject, not the config, so its
    # creator could make the stream republish every secret put to its own inbox, or capture
    # other users' replies; only the scheduler creates buckets (log/buckets.py)
    out: list[str] = []
    for bucket in (s.SECRETS_BUCKET, s.HOOK_SECRETS_BUCKET):
        out += [s.kv_key(bucket, ">"), js_api("STREAM.INFO", s.kv_stream(bucket))]
    return out


def _secret_reads(targets: Iterable[str]) -> list[str]:
    """Reading the job secrets of these targets, one key at a time (direct get by subject)."""
    stream = s.kv_stream(s.SECRETS_BUCKET)
    return [js_api("DIRECT.GET", stream, s.secret_key(t, ">")) for t in targets]


def _reader(user: User, *, commands: bool) -> Permissions:
    """operator and auditor: queries and log reads; the operator also sends commands."""
    # why: CONSUMER.CREATE.<stream> without a name creates ephemerals only (the server refuses
    # a durable there), so a reader cannot make or change the executors' durables; it has no
    # CONSUMER.DELETE on the log either (its ephemerals expire on their own).
    publish = [
        s.query(">"),
        f"{s.SERVICE_API}.*.{s.QUERY_SERVICE}",
        *_log_reads(),
        js_api("CONSUMER.CREATE", s.STREAM),
        js_api("CONSUMER.MSG.NEXT", s.STREAM, "*"),
        js_api("CONSUMER.INFO", s.STREAM, "*"),
        *_kv_reads(s.EXECUTORS_BUCKET),
        *_kv_reads(s.LEASE_BUCKET),
        *_snapshot_reads(),
    ]
    if commands:
        # why: only under its own name: the subject is how the scheduler knows who sent it
        publish.insert(0, s.command_as(user.name, "*"))
        # why: withdrawing its own command that no replica answered (log/withdrawal.py)
        publish += [*_secret_writes(), s.kv_key(s.COMMANDS_BUCKET, f"{s.token(user.name)}.>")]
        # why: a command sink runs on the scheduler's host as its OS user, who reads the
        # scheduler's identity (and, under `up --secure`, the admin's): adding one is admin's
        deny = (s.command_as(user.name, COMMAND_SINK_VERB),)
        return Permissions(Rules(tuple(publish), deny), Rules((_inbox(user),)))
    return Permissions(Rules(tuple(publish)), Rules((_inbox(user),)))


def _executor(user: User) -> Permissions:
    """One host: its durables only (pinned to their filter subject), run events, its heartbeat."""
    from_targets = [
        (s.pool_consumer(t), s.trigger(t)) for t in (*executor_targets(user), *user.tags)
    ]
    fans = [(s.fan_consumer(user.name, t), s.trigger(s.fan_target(t))) for t in user.tags]
    consumers: list[str] = []
    for durable, subject in dict.fromkeys([*from_targets, *fans]):
        consumers += [
            # why: the filter is part of the create subject, so a durable of this host cannot
            # be (re)created onto another host's triggers.
            js_api("CONSUMER.CREATE", s.STREAM, durable, subject),
            js_api("CONSUMER.INFO", s.STREAM, durable),
            js_api("CONSUMER.MSG.NEXT", s.STREAM, durable),
            js_ack(s.STREAM, durable),
        ]
    targets = (*executor_targets(user), *user.tags, *(s.fan_target(t) for t in user.tags))
    # why: run events only under its own name and targets; the folds check the rest (which run
    # it holds: domain/claims.py)
    runs = [s.run_by("*", "*", t, user.name) for t in dict.fromkeys(targets)]
    publish = [
        *runs,
        *_secret_reads(dict.fromkeys(targets)),
        # why not the bucket's STREAM.CREATE: its creator chooses its config (_secret_writes)
        s.heartbeat_key(user.name),
        *_kv_reads(s.EXECUTORS_BUCKET),
        *_log_reads(),
        *consumers,
    ]
    subscribe = [_inbox(user), s.cancel("*"), s.SCHEDULES]
    return Permissions(Rules(tuple(publish)), Rules(tuple(subscribe)))


def _scheduler(user: User) -> Permissions:
    """A `serve` replica: the whole log, its buckets and API, minus stream destruction."""
    publish = [
        f"{s.PREFIX}.>",
        js_api(">"),
        f"{JS_ACK}.>",
        s.kv_key("*", ">"),
        f"{s.OBJECT_API}.>",
        f"{s.SERVICE_API}.>",
    ]
    secrets = s.kv_stream(s.SECRETS_BUCKET)
    deny = [
        js_api("STREAM.DELETE", ">"),
        js_api("STREAM.PURGE", ">"),
        # why: the scheduler never needs a job secret; only executors resolve them
        js_api("DIRECT.GET", secrets),
        js_api("DIRECT.GET", secrets, ">"),
        js_api("STREAM.MSG.GET", secrets),
        js_api("CONSUMER.CREATE", secrets),
        js_api("CONSUMER.CREATE", secrets, ">"),
        s.kv_key(s.SECRETS_BUCKET, ">"),
    ]
    subscribe = [_inbox(user), f"{s.PREFIX}.>", f"{s.SERVICE_API}.>"]
    return Permissions(Rules(tuple(publish), tuple(deny)), Rules(tuple(subscribe)), True)
