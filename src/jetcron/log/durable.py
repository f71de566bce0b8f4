"""A durable pull consumer on the log for a process manager (notification delivery).

Each message is one decoded event with its delivery count; the caller acks it when done,
naks it with a delay to try again later, or keeps it in progress while it waits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from jetcron import subjects
from jetcron.domain.envelope import StoredEvent
from jetcron.log.decoding import decode_records
from jetcron.log.reader import RawRecord

log = logging.getLogger(__name__)


class Delivery:
    """One event from the durable consumer, and what to tell the consumer about it."""

    def __init__(self, msg: Msg, stored: StoredEvent | None) -> None:
        self._msg = msg
        self.stored = stored
        """None for an undecodable event (acked by the caller and skipped)."""
        self.attempt = int(msg.metadata.num_delivered or 1)

    async def ack(self) -> None:
        """Done with it: never delivered again."""
        await self._msg.ack()

    async def nak(self, delay: float) -> None:
        """Deliver it again after `delay` seconds."""
        await self._msg.nak(delay=delay)

    async def in_progress(self) -> None:
        """Still working on it: restart the ack timer."""
        await self._msg.in_progress()


class DurableFeed:
    """A named durable consumer on some log subjects, created at the log's end if missing."""

    def __init__(
        self,
        nc: Client,
        durable: str,
        filters: Sequence[str],
        *,
        ack_wait_s: float = 30.0,
        stream: str = subjects.STREAM,
    ) -> None:
        self.js = nc.jetstream()
        self.durable, self.filters, self.ack_wait_s, self.stream = (
            durable,
            filters,
            ack_wait_s,
            stream,
        )
        self._sub: object | None = None

    async def open(self) -> DurableFeed:
        """Bind to the consumer, creating it (new events only) if it does not exist."""
        try:
            await self.js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            await self.js.add_consumer(
                self.stream,
                ConsumerConfig(
                    name=self.durable,
                    durable_name=self.durable,
                    description="jetcron notification delivery",
                    filter_subjects=list(self.filters),
                    ack_policy=AckPolicy.EXPLICIT,
                    # why: a new sink speaks about what happens from now on, not about history
                    deliver_policy=DeliverPolicy.NEW,
                    ack_wait=self.ack_wait_s,
                    max_deliver=-1,  # why: retries are naks; we count attempts ourselves
                    max_ack_pending=10_000,
                ),
            )
            log.info("created durable consumer %s", self.durable)
        self._sub = await self.js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        return self

    async def fetch(self, batch: int = 100, timeout: float = 1.0) -> list[Delivery]:
        """Up to `batch` events; [] when none came within `timeout`."""
        assert self._sub is not None, "open() first"
        try:
            msgs: list[Msg] = await self._sub.fetch(batch, timeout=timeout)  # type: ignore[attr-defined]
        except TimeoutError:
            return []
        out = []
        for m in msgs:
            meta = m.metadata
            record = RawRecord(int(meta.sequence.stream), m.subject, m.data, 0, 0)
            decoded = decode_records([record])
            out.append(Delivery(m, decoded[0] if decoded else None))
        return out

    async def close(self) -> None:
        """Stop fetching (the consumer and its position stay on the server)."""
        if self._sub is not None:
            await self._sub.unsubscribe()  # type: ignore[attr-defined]
            self._sub = None
