"""Secrets in KV buckets, never in the log: operators write them; for a job only its target's
executors read them, for a webhook only the scheduler that delivers it.

A secret lives under `<target>.<name>` in `jetcron_secrets`; the schedule's job only names it
(`kv:<name>`). Under auth, operators may put but not get, and an executor may read only the
keys of its own targets (by direct get of the key's subject), so one host cannot read another
target's secrets. This keeps values out of the log and off operators' screens; it does not keep
them from operators: an operator may schedule a job on the target that reads and prints one
(README, "Job secrets").
"""

from __future__ import annotations

from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import NotFoundError

from jetcron import subjects
from jetcron.log import buckets, placement
from jetcron.log.api import kv_purge

STREAM = subjects.kv_stream(subjects.SECRETS_BUCKET)
DESCRIPTIONS = {
    subjects.SECRETS_BUCKET: "jetcron job secrets",
    subjects.HOOK_SECRETS_BUCKET: "jetcron webhook signing secrets",
}


def bucket_config(bucket: str = subjects.SECRETS_BUCKET) -> KeyValueConfig:
    """How jetcron makes a secrets bucket."""
    return KeyValueConfig(bucket=bucket, history=1, description=DESCRIPTIONS[bucket], direct=True)


async def ensure_buckets(nc: Client, replicas: int = 1) -> dict[str, placement.Scaled]:
    """The scheduler's part: create both secrets buckets if missing, else check them and raise
    them to `replicas` (a secret on one node's disk is lost with it)."""
    return {
        bucket: await buckets.ensure(nc, bucket_config(bucket).evolve(replicas=replicas))
        for bucket in DESCRIPTIONS
    }


async def put(nc: Client, target: str, name: str, value: str) -> None:
    """Store (or replace) a secret for the executors of `target`, in a bucket as jetcron
    makes it (BucketMissing before the scheduler made it; BucketTampered)."""
    await buckets.require(nc, bucket_config())
    await nc.jetstream().publish(subjects.secret_key(target, name), value.encode())


async def put_hook_secret(nc: Client, key: str, value: str) -> None:
    """Store a webhook signing secret under `key` (a fresh key per `notify add`)."""
    await buckets.require(nc, bucket_config(subjects.HOOK_SECRETS_BUCKET))
    await nc.jetstream().publish(subjects.hook_secret_key(key), value.encode())


async def get(nc: Client, target: str, name: str, *, timeout: float = 5.0) -> str | None:
    """A secret as the executors of `target` see it; None if there is none."""
    return await _read(nc, STREAM, subjects.secret_key(target, name), timeout)


async def get_hook_secret(nc: Client, key: str, *, timeout: float = 5.0) -> str | None:
    """A webhook signing secret; None if there is none."""
    stream = subjects.kv_stream(subjects.HOOK_SECRETS_BUCKET)
    return await _read(nc, stream, subjects.hook_secret_key(key), timeout)


async def hook_secret_keys(nc: Client) -> set[str] | None:
    """The keys the webhook secrets bucket holds or once held (a purged key keeps its marker),
    from the stream's subjects, never a value; None if the bucket cannot be asked."""
    stream = subjects.kv_stream(subjects.HOOK_SECRETS_BUCKET)
    prefix = subjects.hook_secret_key("")
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=f"{prefix}>")
    except Exception:  # noqa: BLE001 - a best-effort check: permissions, no bucket yet, NATS
        return None
    return {s.removeprefix(prefix) for s in info.state.subjects or {}}


async def purge_hook_secret(nc: Client, key: str) -> None:
    """Purge a webhook signing secret: a KV purge marker rolls the key's value up (gone from
    the stream; gets and `nats kv ls` no longer see the key)."""
    # why: a KV bucket denies message deletes; the purge is the KV way (as `kv.purge` does)
    await nc.jetstream().publish(subjects.hook_secret_key(key), b"", headers=kv_purge())


async def _read(nc: Client, stream: str, subject: str, timeout: float) -> str | None:
    """The value of one KV key by direct get of its subject; None if absent or deleted."""
    js = nc.jetstream(timeout=timeout)
    try:
        # why: a direct get names the key's subject in the request subject, which is what an
        # executor's permissions allow (its targets' keys, nothing else)
        msg = await js.get_last_msg(stream, subject, direct=True)
    except NotFoundError:
        return None
    if msg.headers and msg.headers.get("KV-Operation") in ("DEL", "PURGE"):
        return None
    return (msg.data or b"").decode()
