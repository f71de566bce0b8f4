"""The log: the JETCRON stream, appends with CAS and dedupe, loads of one aggregate, replay.

This is the only module that maps NATS/JetStream errors to jetcron's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence

from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from jetcron import ids, subjects
from jetcron.domain.events import Envelope, StoredEvent, encode
from jetcron.errors import InfrastructureError
from jetcron.log.follow import FollowHealth
from jetcron.log.publisher import PubAck, Publisher
from jetcron.log.reader import OnSkipped, RawRecord, decode_records, read_raw, read_subject

log = logging.getLogger(__name__)

DUPLICATE_WINDOW_S = 600.0
"""Dedupe window for Nats-Msg-Id: longer than any ticker hand-over we tolerate."""


def stream_config(name: str = subjects.STREAM, replicas: int = 1) -> StreamConfig:
    """The log's stream: file storage, limits retention, immutable history."""
    return StreamConfig(
        name=name,
        description="jetcron event log: schedules, triggers, fires and runs",
        subjects=list(subjects.LOG_SUBJECTS),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
        allow_atomic=True,
    )


class EventLog:
    """Append to and read from the jetcron stream."""

    def __init__(self, nc: Client, *, stream: str = subjects.STREAM, window: int = 8192) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.stream = stream
        self.publisher = Publisher(nc, window=window)

    async def open(self, *, create: bool = True, replicas: int = 1) -> EventLog:
        """Start the publisher and (by default) create or update the stream idempotently."""
        await self.publisher.start()
        if create:
            await self.ensure_stream(replicas)
        return self

    async def close(self) -> None:
        """Stop the publisher."""
        await self.publisher.close()

    async def ensure_stream(self, replicas: int = 1) -> None:
        """Create the stream, or update it to our config; idempotent."""
        config = stream_config(self.stream, replicas)
        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(config)
            log.info("created stream %s (R%d)", self.stream, replicas)
            return
        except Exception as err:
            raise InfrastructureError(f"cannot reach JetStream: {err}") from err
        if (
            set(info.config.subjects or []) != set(config.subjects or [])
            or not info.config.allow_atomic
        ):
            config.num_replicas = info.config.num_replicas
            await self.js.update_stream(config)

    async def append(
        self,
        subject: str,
        envelopes: Sequence[Envelope],
        *,
        expected_last_subject_seq: int | None = None,
        msg_id: str | None = None,
    ) -> list[int]:
        """Append events as one unit (all or none); ConcurrencyConflict if the subject moved."""
        if not envelopes:
            return []
        if len(envelopes) == 1:
            headers = _headers(envelopes[0], msg_id, expected_last_subject_seq)
            ack = await self.publisher.publish(subject, encode(envelopes[0]), headers)
            return [ack.seq]
        return await self._append_batch(subject, envelopes, expected_last_subject_seq, msg_id)

    async def _append_batch(
        self, subject: str, envelopes: Sequence[Envelope], expected: int | None, msg_id: str | None
    ) -> list[int]:
        # why: ADR-50 atomic batch: a conflict on any message rejects the batch, nothing stored.
        batch_id = ids.new_id()
        last = len(envelopes)
        ack: PubAck | None = None
        for i, envelope in enumerate(envelopes, start=1):
            headers = _headers(
                envelope, f"{msg_id}:{i}" if msg_id else None, expected if i == 1 else None
            )
            headers |= {"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(i)}
            if i < last:
                await self.publisher.send(subject, encode(envelope), headers)
            else:
                headers["Nats-Batch-Commit"] = "1"
                ack = await self.publisher.request(subject, encode(envelope), headers)
        assert ack is not None
        return list(range(ack.seq - last + 1, ack.seq + 1))

    async def publish(
        self, subject: str, envelope: Envelope, *, msg_id: str | None = None
    ) -> PubAck:
        """Bulk path: pipelined, bounded window, retried under the same Nats-Msg-Id."""
        return await self.publisher.publish(
            subject, encode(envelope), _headers(envelope, msg_id or envelope.id, None)
        )

    async def publish_many(
        self, items: Sequence[tuple[str, Envelope, str]]
    ) -> list[PubAck | Exception]:
        """Bulk path for (subject, envelope, msg id) items: pipelined, results in order."""
        return await self.publisher.publish_many(
            [(subject, encode(env), _headers(env, msg_id, None)) for subject, env, msg_id in items]
        )

    async def load(self, subject: str) -> tuple[list[StoredEvent], int]:
        """Every event on one subject, and the sequence of the last message read there (0 if none).

        The sequence is the one to CAS against: it covers exactly what was folded, undecodable
        messages included, so a concurrent append always shows up as a conflict.
        """
        records = await read_subject(self.nc, self.stream, subject)
        return decode_records(records), (records[-1].seq if records else 0)

    async def last(self, subject: str) -> StoredEvent | None:
        """The newest event on a subject, or None."""
        try:
            msg = await self.js.get_last_msg(self.stream, subject)
        except NotFoundError:
            return None
        decoded = decode_records(
            [RawRecord(int(msg.seq or 0), msg.subject or subject, msg.data or b"", 0, 0)]
        )
        return decoded[0] if decoded else None

    async def read(
        self,
        *,
        from_seq: int = 1,
        subjects: Sequence[str] | None = None,
        follow: bool = False,
        until_seq: int | None = None,
        batch: int = 10_000,
        on_skipped: OnSkipped | None = None,
        health: FollowHealth | None = None,
    ) -> AsyncGenerator[list[StoredEvent], None]:
        """Decoded batches in log order; unknown events skipped with a warning (and on_skipped).

        With follow=True it rides out NATS outages (see read_raw) and reports to `health`.
        """
        async for records in read_raw(
            self.nc,
            self.stream,
            from_seq=from_seq,
            subjects=subjects,
            follow=follow,
            until_seq=until_seq,
            batch=batch,
            health=health,
        ):
            decoded = decode_records(records, on_skipped)
            if decoded:
                yield decoded

    async def last_seq(self) -> int:
        """The stream's last sequence."""
        info = await self.js.stream_info(self.stream)
        return int(info.state.last_seq)


def _headers(envelope: Envelope, msg_id: str | None, expected: int | None) -> dict[str, str]:
    headers = {"Nats-Msg-Id": msg_id or envelope.id}
    if expected is not None:
        headers["Nats-Expected-Last-Subject-Sequence"] = str(expected)
    return headers
