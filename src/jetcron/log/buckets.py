"""KV buckets: the scheduler creates them; everyone else checks they are as jetcron makes them.

why: nats-server checks a stream's create subject, never its body, so whoever creates a
bucket's stream chooses its config: a `republish` to its own inbox, or extra `subjects`
capturing other users' replies. Under auth only the scheduler (and the admin) may create one
(auth/roles.py), at its start, before anyone uses it; and every user of a bucket refuses one
whose stream is not what jetcron makes (a stream planted before that rule, or by hand), loudly,
rather than trusting its name.
"""

from __future__ import annotations

import contextlib
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import KeyValueConfig, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from jetcron import subjects
from jetcron.errors import InfrastructureError, JetcronError
from jetcron.log import placement


class BucketMissing(InfrastructureError, LookupError):
    """A bucket only the scheduler may create does not exist yet."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        super().__init__(
            f"the KV bucket {bucket} does not exist yet: start the scheduler first "
            "(`jetcron serve` or `jetcron up`); it creates every bucket jetcron uses"
        )


class BucketTampered(JetcronError):
    """A bucket's stream has a config jetcron never makes: it may send what is put in it, or
    what it captures, elsewhere."""

    def __init__(self, bucket: str, problems: list[str]) -> None:
        self.bucket, self.problems = bucket, problems
        stream = subjects.kv_stream(bucket)
        super().__init__(
            f"refusing the KV bucket {bucket}: its stream {stream} is not as jetcron makes it "
            f"({'; '.join(problems)}); someone may be reading what it stores or captures. An "
            f"admin should inspect it (`nats stream info {stream}`), delete it, and put its "
            "keys again (the scheduler recreates it at its start)"
        )


def problems(bucket: str, config: StreamConfig) -> list[str]:
    """What in a bucket's stream config jetcron never sets (empty: none)."""
    found: list[str] = []
    expected = [subjects.kv_key(bucket, ">")]
    if list(config.subjects or []) != expected:
        found.append(f"subjects {config.subjects}, not {expected}")
    if config.republish is not None:
        found.append(f"republishes to {_republish_dest(config.republish)}")
    if config.mirror is not None:
        found.append(f"mirrors {config.mirror.name}")
    if config.sources:
        found.append(f"sources {[s.name for s in config.sources]}")
    if config.subject_transform is not None:
        found.append("transforms its subjects")
    return found


def _republish_dest(republish: Any) -> str:
    return str(getattr(republish, "dest", republish))


async def verify(nc: Client, bucket: str) -> bool:
    """True if the bucket exists as jetcron makes it, False if it does not exist;
    BucketTampered if its stream is not as jetcron makes it."""
    try:
        info = await nc.jetstream().stream_info(subjects.kv_stream(bucket))
    except NotFoundError:
        return False
    except (TimeoutError, NatsError) as err:
        # why: a bare "nats: timeout" named nothing (an executor starting while the node of an
        # R1 bucket was down); InfrastructureError is weather to the scheduler's start-up
        raise InfrastructureError(
            f"cannot read the KV bucket {bucket} (stream {subjects.kv_stream(bucket)}): "
            f"{str(err) or type(err).__name__}"
        ) from err
    found = problems(bucket, info.config)
    if found:
        raise BucketTampered(bucket, found)
    return True


async def ensure(nc: Client, config: KeyValueConfig) -> placement.Scaled:
    """The scheduler's (or an unauthenticated setup's) part: create the bucket `config` names
    if it is missing, else check it (BucketTampered) and raise its replicas to
    `config.replicas` (never lowered: log/placement.py). Idempotent and race-safe."""
    wanted = config.replicas or 1
    stream = subjects.kv_stream(config.bucket)
    if await verify(nc, config.bucket):
        return await placement.raise_to(nc, stream, wanted, asked=False, say=False)
    try:
        await nc.jetstream().create_key_value(config)
    except BadRequestError as err:
        if placement.unplaceable(err):
            raise placement.refused_creation(nc, stream, wanted, err) from None
        # why: another process created it at the same moment; check what it made
        with contextlib.suppress(NotFoundError):
            if await verify(nc, config.bucket):
                return await placement.raise_to(nc, stream, wanted, asked=False, say=False)
        raise
    return placement.Scaled(wanted, wanted)


async def require(nc: Client, config: KeyValueConfig) -> None:
    """A user's part (an executor, the CLI): the bucket as jetcron makes it, or an error.

    Missing: under auth, BucketMissing (only the scheduler may create it); on a server without
    auth anyone could create it anyway, so it is created here (`executor` before `serve`).
    """
    if await verify(nc, config.bucket):
        return
    if auth_required(nc):
        raise BucketMissing(config.bucket)
    await ensure(nc, config)


def auth_required(nc: Client) -> bool:
    """Whether the server we are connected to authenticates its users (roles apply)."""
    # why: nats-py keeps the server's INFO private; `auth_required` is how the server says it
    info: dict[str, Any] = getattr(nc, "_server_info", {}) or {}
    return bool(info.get("auth_required"))
