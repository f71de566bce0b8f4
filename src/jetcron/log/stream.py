"""The log: the JETCRON stream, appends with CAS and dedupe, loads of one aggregate, replay.

This is the only module that maps NATS/JetStream errors to jetcron's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING

from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from jetcron import ids, subjects
from jetcron.domain.envelope import Envelope, StoredEvent, encode
from jetcron.errors import InfrastructureError
from jetcron.log import placement, retention
from jetcron.log.acks import PubAck
from jetcron.log.api import EXPECTED_LAST_SUBJECT_SEQ
from jetcron.log.decoding import OnSkipped, decode_records, decoded_frames
from jetcron.log.direct import read_subject
from jetcron.log.follow import FollowHealth
from jetcron.log.publisher import Publisher, Staged
from jetcron.log.reader import RawRecord, read_frames

if TYPE_CHECKING:
    from jetcron.log.signing import Signer

log = logging.getLogger(__name__)
Prepared = tuple[str, bytes, dict[str, str]]
"""(subject, encoded envelope, headers): an append ready to go out."""

DUPLICATE_WINDOW_S = 600.0
"""Dedupe window for Nats-Msg-Id: longer than any ticker hand-over we tolerate."""
DECODE_CHUNK = 512
"""Records decoded and yielded together by EventLog.read (see there why not a whole pull batch)."""
RETENTION_KEY = "jetcron.retention_s"
"""Stream metadata: how long triggers, fires and run events live (0 or absent: forever)."""
DEFAULT_RETENTION_S = 30 * 86400
"""A new log keeps run history 30 days unless told otherwise (an existing log keeps its setting)."""


def stream_config(
    name: str = subjects.STREAM, replicas: int = 1, retention_s: int | None = None
) -> StreamConfig:
    """The log's stream: file storage, immutable history, per-message TTL for what ages.

    why one stream with per-message TTL rather than a stream per class: every fold needs one
    order across schedule and run events; definitions carry no TTL and so live forever.
    """
    metadata = {RETENTION_KEY: str(retention_s)} if retention_s is not None else None
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
        allow_msg_ttl=True,
        metadata=metadata,
    )


class EventLog:
    """Append to and read from the jetcron stream."""

    def __init__(
        self,
        nc: Client,
        *,
        stream: str = subjects.STREAM,
        window: int = 16_384,
        signer: Signer | None = None,
        ack_timeout: float = 5.0,
    ) -> None:
        self.nc = nc
        self.signer = signer
        """Signs what goes onto trigger subjects (the scheduler's nkey), if given."""
        self.js = nc.jetstream()
        self.stream = stream
        self.publisher = Publisher(nc, window=window, ack_timeout=ack_timeout)
        self.retention_s: int | None = None
        """TTL of triggers, fires and run events (None: forever), from the stream's metadata."""
        self.replicas = 1
        """The stream's replica count as ensure_stream left it (the buckets follow it)."""

    async def open(self, *, create: bool = True, replicas: int | None = None) -> EventLog:
        """Start the publisher and (by default) create or update the stream idempotently."""
        await self.publisher.start()
        if create:
            await self.ensure_stream(replicas)
        return self

    async def close(self) -> None:
        """Stop the publisher."""
        await self.publisher.close()

    async def ensure_stream(
        self, replicas: int | None = None, retention_s: int | None = None
    ) -> None:
        """Create the stream, or update it to our config; idempotent.

        `replicas` (None: 1 for a new stream, else what it has) raises an existing stream's
        count, never lowers it (log/placement.py); `retention_s` (0: forever) is set by the
        scheduler service; None keeps what the stream has, so an executor or a CLI never
        changes either.
        """
        config = stream_config(self.stream, replicas or 1, retention_s)
        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError:
            await self._create(config, retention_s)
            return
        except Exception as err:
            raise InfrastructureError(f"cannot reach JetStream: {err}") from err
        ours = {k: v for k, v in (info.config.metadata or {}).items() if not k.startswith("_nats")}
        wanted = ours | (config.metadata or {})
        have = set(info.config.subjects or [])
        # why: only ever add subjects: an older appender must not take a newer one's away
        config.subjects = sorted(have | set(config.subjects or []))
        if (
            set(config.subjects) != have
            or not info.config.allow_atomic
            or not info.config.allow_msg_ttl
            or wanted != ours
        ):
            config.num_replicas = info.config.num_replicas
            config.metadata = wanted
            await self.js.update_stream(config)
            if wanted != ours:
                retention.changed_here(self.stream, retention_of(ours), retention_of(wanted))
        self._retention_from(wanted)
        self.replicas = int(info.config.num_replicas or 1)
        if replicas is not None:
            self.replicas = (await placement.raise_to(self.nc, self.stream, replicas)).after

    async def _create(self, config: StreamConfig, retention_s: int | None) -> None:
        """Create the stream (a new log keeps run history DEFAULT_RETENTION_S unless told)."""
        if retention_s is None:
            config = stream_config(self.stream, config.num_replicas or 1, DEFAULT_RETENTION_S)
        try:
            await self.js.add_stream(config)
        except APIError as err:
            if placement.unplaceable(err):
                raise placement.refused_creation(
                    self.nc, self.stream, config.num_replicas or 1, err
                ) from None
            raise
        log.info("created stream %s (R%d)", self.stream, config.num_replicas)
        self._retention_from(config.metadata)
        self.replicas = config.num_replicas or 1

    async def load_retention(self) -> int | None:
        """Read the retention from the stream (for processes that do not create it)."""
        info = await self.js.stream_info(self.stream)
        self._retention_from(info.config.metadata)
        return self.retention_s

    def _retention_from(self, metadata: dict[str, str] | None) -> None:
        self.retention_s = retention_of(metadata) or None

    def _ttl(self, subject: str) -> int | None:
        return retention.ttl_s(self.retention_s) if subjects.ages(subject) else None

    async def append(
        self,
        subject: str,
        envelopes: Sequence[Envelope],
        *,
        expected_last_subject_seq: int | None = None,
        msg_id: str | None = None,
        also: Sequence[tuple[str, Envelope, int]] = (),
        expected_subject: str | None = None,
    ) -> list[int]:
        """Append events as one unit (all or none); ConcurrencyConflict if the subject moved.

        `also`: (subject, envelope, expected last sequence of that subject) stored in the same
        atomic batch, so a change that rests on another aggregate's state conflicts if it moved.
        `expected_subject` (a wildcard) makes the check of a single append cover every subject
        it matches.
        """
        if not envelopes:
            return []
        if len(envelopes) == 1 and not also:
            headers = _headers(envelopes[0], msg_id, expected_last_subject_seq, self._ttl(subject))
            if expected_subject is not None and expected_last_subject_seq is not None:
                headers[f"{EXPECTED_LAST_SUBJECT_SEQ}-Subject"] = expected_subject
            data = encode(envelopes[0])
            ack = await self.publisher.publish(subject, data, self._signed(subject, data, headers))
            return [ack.seq]
        items = [(subject, e, expected_last_subject_seq if i == 0 else None)
                 for i, e in enumerate(envelopes)]  # fmt: skip
        seqs = await self._append_batch([*items, *also], msg_id)
        return seqs[: len(envelopes)]

    async def _append_batch(
        self, items: Sequence[tuple[str, Envelope, int | None]], msg_id: str | None
    ) -> list[int]:
        # why: ADR-50 atomic batch: a conflict on any message rejects the batch, nothing stored;
        # each message may carry its own subject's expected sequence (measured on 2.15.1).
        batch_id = ids.new_id()
        last = len(items)
        ack: PubAck | None = None
        for i, (subject, envelope, expected) in enumerate(items, start=1):
            headers = _headers(
                envelope, f"{msg_id}:{i}" if msg_id else None, expected, self._ttl(subject)
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
        data = encode(envelope)
        headers = _headers(envelope, msg_id or envelope.id, None, self._ttl(subject))
        return await self.publisher.publish(subject, data, self._signed(subject, data, headers))

    async def publish_many(
        self, items: Sequence[tuple[str, Envelope, str]]
    ) -> list[PubAck | Exception]:
        """Bulk path for (subject, envelope, msg id) items: pipelined, results in order."""
        return await self.publisher.publish_many(items, prepare=self.prepare)

    def prepare(self, items: Sequence[tuple[str, Envelope, str]]) -> list[Prepared]:
        """Encode (subject, envelope, msg id) items for publish_prepared or stage, ahead of time
        (triggers signed here when we sign)."""
        out: list[Prepared] = []
        for subject, env, msg_id in items:
            data = encode(env)
            headers = _headers(env, msg_id, None, self._ttl(subject))
            out.append((subject, data, self._signed(subject, data, headers)))
        return out

    async def publish_prepared(self, prepared: Sequence[Prepared]) -> list[PubAck | Exception]:
        """publish_many of items prepare() encoded."""
        return await self.publisher.publish_many(prepared)

    def stage(self, prepared: Sequence[Prepared]) -> Staged | None:
        """Prepared items framed and joined now, for one write by publish_staged later; None
        if they are more than one write may carry (the publisher's window: use
        publish_prepared, which sends them as acks make room)."""
        if len(prepared) > self.publisher.window:
            return None
        return self.publisher.stage(prepared)

    async def publish_staged(self, staged: Staged) -> list[PubAck | Exception]:
        """Send what stage() made (once); results in order, as publish_prepared."""
        return await self.publisher.publish_staged(staged)

    def _signed(self, subject: str, data: bytes, headers: dict[str, str]) -> dict[str, str]:
        """The headers, with the scheduler's signature if this is a trigger and we sign."""
        if self.signer is None or not subjects.is_trigger(subject):
            return headers
        return headers | self.signer.headers(data)

    async def load(self, subject: str) -> tuple[list[StoredEvent], int]:
        """Every event on one subject, and the sequence of the last message read there (0 if none).

        The sequence is the one to CAS against: it covers exactly what was folded, undecodable
        messages included, so a concurrent append always shows up as a conflict.
        """
        records = await read_subject(self.nc, self.stream, subject)
        return decode_records(records), (records[-1].seq if records else 0)

    async def load_after(self, subject: str, seq: int) -> list[StoredEvent]:
        """The events on one subject after sequence `seq` (direct gets, no consumer)."""
        return decode_records(await read_subject(self.nc, self.stream, subject, from_seq=seq + 1))

    async def load_run(self, name: str, run_id: str) -> tuple[list[StoredEvent], int]:
        """Every event of one run, whoever wrote it, and the sequence to CAS against with
        `expected_subject=subjects.run_events(name, run_id)[0]` (its writers' subjects)."""
        named, older = subjects.run_events(name, run_id)
        records = await read_subject(self.nc, self.stream, named)
        cas = records[-1].seq if records else 0
        legacy = await read_subject(self.nc, self.stream, older)
        if legacy:
            records = sorted([*records, *legacy], key=lambda r: r.seq)
        return decode_records(records), cas

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

    async def last_seq_on(self, subject: str) -> int:
        """The sequence of the newest message on a subject (a wildcard too), 0 if there is none."""
        try:
            msg = await self.js.get_last_msg(self.stream, subject)
        except NotFoundError:
            return 0
        return int(msg.seq or 0)

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
        """Decoded batches in log order; unknown events skipped with a warning (and on_skipped,
        called once the events before it have been taken).

        With follow=True it rides out NATS outages (see read_raw) and reports to `health`.
        """
        async for delivered in read_frames(
            self.nc,
            self.stream,
            from_seq=from_seq,
            subjects=subjects,
            follow=follow,
            until_seq=until_seq,
            batch=batch,
            health=health,
        ):
            # why: a wake-up brings up to a pull batch (10,000 records, ~5 MB); decoded whole,
            # its first events have left the CPU cache before a fold reads them (decode and
            # fold each ~30 % slower, measured), so it is decoded and yielded a chunk at a time
            frames = delivered.frames
            for at in range(0, len(frames), DECODE_CHUNK):
                for decoded, skipped in decoded_frames(frames[at : at + DECODE_CHUNK]):
                    if decoded:
                        yield decoded
                    if skipped is not None and on_skipped is not None:
                        # why: after the events ahead of it are folded: folds see the log's order
                        on_skipped(*skipped)

    async def last_seq(self) -> int:
        """The stream's last sequence; InfrastructureError, saying so, while there is no log."""
        return (await self.end())[0]

    async def holds_after(self, seq: int) -> bool:
        """Whether the log still holds any event after `seq` (those after may have aged out)."""
        try:
            await self.js.get_msg(
                self.stream, seq=seq + 1, subject=f"{subjects.PREFIX}.>", next=True
            )
        except NotFoundError:
            return False
        return True

    async def end(self) -> tuple[int, str | None]:
        """The stream's last sequence, and why nothing can be appended if its cluster lost its
        quorum (None: it has one, or it is not clustered); InfrastructureError with no log."""
        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError as err:
            raise InfrastructureError(missing_log(self.stream)) from err
        return int(info.state.last_seq), placement.lost_quorum(self.stream, info.cluster)


def missing_log(stream: str) -> str:
    """What to say when the log's stream does not exist (never created, or deleted)."""
    return (
        f"the log (JetStream stream {stream}) does not exist: `jetcron up` or `jetcron serve` "
        "creates it"
    )


def retention_of(metadata: dict[str, str] | None) -> int:
    """The run history retention in seconds from the stream's metadata (0: forever)."""
    return int((metadata or {}).get(RETENTION_KEY) or 0)


def _headers(
    envelope: Envelope, msg_id: str | None, expected: int | None, ttl_s: int | None = None
) -> dict[str, str]:
    headers = {"Nats-Msg-Id": msg_id or envelope.id}
    if expected is not None:
        headers[EXPECTED_LAST_SUBJECT_SEQ] = str(expected)
    if ttl_s:
        headers["Nats-TTL"] = f"{ttl_s}s"  # why: per-message TTL (ADR-43): this event ages out
    return headers
