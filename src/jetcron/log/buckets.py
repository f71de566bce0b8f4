"""KV buckets created on first use: idempotent, and safe when two processes race to create one."""

from __future__ import annotations

import contextlib

from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.errors import BadRequestError, NotFoundError

from jetcron import subjects


async def ensure(nc: Client, config: KeyValueConfig) -> None:
    """Create the bucket `config` names unless its stream exists."""
    js = nc.jetstream()
    stream = subjects.kv_stream(config.bucket)
    with contextlib.suppress(NotFoundError):
        await js.stream_info(stream)
        return
    try:
        await js.create_key_value(config)
    except BadRequestError:
        await js.stream_info(stream)  # why: another process created it at the same moment
