"""One subject's messages by batched direct gets: no consumer to create and delete.

why: the command handler loads one small aggregate per command; a consumer per load costs two
API round trips and, under a burst of commands, hits the consumer limit.
"""

from __future__ import annotations

import asyncio
import json

from nats.aio.client import Client
from nats.aio.msg import Msg

from jetcron.errors import InfrastructureError
from jetcron.log.api import js_api
from jetcron.log.reader import RawRecord

DIRECT_BATCH = 256


async def read_subject(
    nc: Client,
    stream: str,
    subject: str,
    timeout: float = 2.0,
    attempts: int = 5,
    *,
    from_seq: int = 1,
) -> list[RawRecord]:
    """Every message on one subject (from `from_seq`) via batched direct gets (no consumer to
    create and delete).

    why: the command handler loads one small aggregate per command; a consumer per load
    costs two API round trips and, under a burst of commands, hits the consumer limit.
    """
    records: list[RawRecord] = []
    next_seq = from_seq
    while True:
        batch, more = await _direct_batch_retried(nc, stream, subject, next_seq, timeout, attempts)
        records += batch
        if not more or not batch:
            return records
        next_seq = batch[-1].seq + 1


async def _direct_batch_retried(
    nc: Client, stream: str, subject: str, start: int, timeout: float, attempts: int
) -> tuple[list[RawRecord], bool]:
    # why: during a cluster leader election (or a reconnect) a direct get can go unanswered;
    # the read is idempotent, so ask again before reporting the stream unreachable.
    for attempt in range(1, attempts + 1):
        try:
            return await _direct_batch(nc, stream, subject, start, timeout)
        except InfrastructureError:
            if attempt == attempts:
                raise
            await asyncio.sleep(min(0.2 * attempt, 1.0))
    raise AssertionError("unreachable")


async def _direct_batch(
    nc: Client, stream: str, subject: str, start: int, timeout: float
) -> tuple[list[RawRecord], bool]:
    inbox = nc.new_inbox()
    got: list[RawRecord] = []
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def on_msg(msg: Msg) -> None:
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            got.append(
                RawRecord(
                    int(headers["Nats-Sequence"]),
                    headers.get("Nats-Subject", subject),
                    msg.data,
                    0,
                    int(headers.get("Nats-Num-Pending", 0)),
                )
            )
        elif not done.done():
            done.set_result(status == "204" and int(headers.get("Nats-Num-Pending", 0)) > 0)

    sub = await nc.subscribe(inbox, cb=on_msg)
    try:
        body = {"seq": start, "next_by_subj": subject, "batch": DIRECT_BATCH}
        await nc.publish(js_api("DIRECT.GET", stream), json.dumps(body).encode(), reply=inbox)
        async with asyncio.timeout(timeout):  # why: not wait_for (follow.set_within)
            more = await done
    except TimeoutError as err:
        raise InfrastructureError(
            f"reading {subject} timed out (is the stream reachable?)"
        ) from err
    finally:
        await sub.unsubscribe()
    return got, more
