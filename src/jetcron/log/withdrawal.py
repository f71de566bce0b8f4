"""Who settles a command whose sender gave up waiting: the replica that applies it, or the
sender that withdraws it. One KV create decides.

why: commands go to the scheduler replicas' queue group, so a frozen replica (SIGSTOP, a paused
VM) holds its share and applies it when it wakes, long after its sender printed "no answer" and
maybe after a later command (a pause landing after the resume). Before it decides a command, a
replica creates `<sender>.<id hash>` ("applying"); a sender that gave up creates the same key
("withdrawn"). Exactly one create wins: a thawed replica finds the key taken and drops the
command, and the sender can say which way it went.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import APIError

from jetcron import ids, subjects
from jetcron.log import buckets, placement
from jetcron.log.acks import CONFLICT_CODES
from jetcron.log.api import expect_last

log = logging.getLogger(__name__)

BUCKET = subjects.COMMANDS_BUCKET
KEEP_S = 86_400
"""How long a key is kept: a replica frozen for longer than this applies what waited."""
APPLYING, WITHDRAWN, FAILED = b"applying", b"withdrawn", b"failed: "
VERDICT_WAIT_S = 6.0
"""How long a sender told "a replica has begun" waits for its failure (an append that gets
no ack fails in one ack timeout, 5 s, while the log takes no appends)."""


async def ensure_bucket(nc: Client, replicas: int = 1) -> placement.Scaled:
    """Create the bucket if it is missing, else raise it to `replicas` (idempotent, race-safe)."""
    config = KeyValueConfig(
        bucket=BUCKET,
        history=1,
        ttl=KEEP_S,
        description="jetcron: who settled a command",
        replicas=replicas,
    )
    return await buckets.ensure(nc, config)


def key(sender: str | None, command_id: str) -> str:
    """The key's subject; the id is hashed (a command's id is the sender's text)."""
    who = subjects.token(sender) if sender else "-"
    return subjects.kv_key(BUCKET, f"{who}.{ids.derived_id(command_id)}")


async def take(nc: Client, sender: str | None, command_id: str, as_: bytes) -> bool | None:
    """Create the command's key: True if we did, False if the other side had; None when it
    cannot be told (no bucket: an older scheduler; JetStream not answering)."""
    subject = key(sender, command_id)
    try:
        await nc.jetstream().publish(subject, as_, timeout=2.0, headers=expect_last(0))
    except APIError as err:
        if err.err_code in CONFLICT_CODES:
            return False
        log.warning("command %s: cannot settle who applies it: %s", command_id, err)
        return None
    except Exception as err:  # noqa: BLE001 - an unknown answer is "cannot tell", never a crash
        log.warning("command %s: cannot settle who applies it: %s", command_id, err)
        return None
    return True


async def withdrawn(nc: Client, sender: str | None, command_id: str) -> bool:
    """Whether the command's key says its sender withdrew it (False when it cannot be read)."""
    return await _value(nc, sender, command_id) == WITHDRAWN


async def _value(nc: Client, sender: str | None, command_id: str) -> bytes | None:
    try:
        msg = await nc.jetstream().get_last_msg(subjects.kv_stream(BUCKET), key(sender, command_id))
    except Exception:  # noqa: BLE001 - unreadable: as if not there
        return None
    return bytes(msg.data or b"")


async def failed(nc: Client, sender: str | None, command_id: str, why: str) -> None:
    """The replica that took the command could not apply it: say why to a sender that gave up
    waiting (best effort: the sender then says a replica has begun, as before)."""
    try:
        await nc.jetstream().publish(key(sender, command_id), FAILED + why.encode(), timeout=2.0)
    except Exception as err:  # noqa: BLE001 - the reply still carries it to a sender that waits
        log.warning("command %s: cannot record why it failed: %s", command_id, err)


async def failure(
    nc: Client, sender: str | None, command_id: str, wait: float = VERDICT_WAIT_S
) -> str | None:
    """Why the replica that began the command failed it, if it says so within `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        value = await _value(nc, sender, command_id)
        if value is not None and value.startswith(FAILED):
            return value[len(FAILED) :].decode(errors="replace")
        if value != APPLYING or time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.25)
