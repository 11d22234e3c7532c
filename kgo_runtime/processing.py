"""What the idempotent consumer does with one record, on the Postgres side.

In ONE transaction: move the partition's stored position past the record (no row moved: the
offset was already processed), record its ``ce_id`` in the inbox (already there: a
republished event) and call the handler with that connection, so the effect, the dedupe
record and the position commit together or not at all.

Batched mode (:meth:`RecordProcessor.process_batch`, a :data:`BatchHandler`): many records of
one partition in ONE transaction with the same guarantees. The partition's stored position
is locked (``FOR UPDATE``), records behind it are dropped, the batch's ``ce_id``s go into the
inbox in one statement (those already there, or twice in the batch, are dropped), the
handler gets the remaining envelopes in offset order, and the position moves once, past the
last record. A record that cannot be decoded, or a batch whose handler raises a permanent
error, falls back to one transaction per record, so only the poisoned record is
dead-lettered.

A ``ce_id`` already applied is a silent duplicate only if its content is the same
(:func:`~kgo_runtime.envelope.payload_digest`, stored in the inbox with the id): a record
that reuses an applied id for other content is dead-lettered ``ce_id_reused`` (a publisher
bug or a forged record; dropping it silently would lose a fact nobody is told about).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from kgo_contracts.base import ContractEvent
from kgo_runtime.deadletter import PermanentError, send_dead_letter
from kgo_runtime.envelope import Envelope, EnvelopeError, decode, payload_digest
from kgo_runtime.inbox import Inbox, Seen, judge
from kgo_runtime.logging import correlation, get_logger
from kgo_runtime.metrics import Metrics

#: Applies one event's effect through ``conn``, inside the consumer's transaction.
Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]
#: Applies many events' effects (one partition, offset order; with the consumer's
#: ``across_partitions``, several partitions', each in offset order) through ``conn``, inside
#: the consumer's transaction.
BatchHandler = Callable[[asyncpg.Connection, Sequence[Envelope]], Awaitable[None]]

log = get_logger(__name__)


class Outcome(Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What became of a batch: ``next_offset`` is where the partition goes on from (the
    first record not done when ``retry`` is set: retry it after a backoff; ``seek``: go
    there at once); ``changed`` whether a committed transaction changed anything."""

    next_offset: int
    retry: bool = False
    seek: bool = False
    changed: bool = False
    processed: int = 0


class _Behind(Exception):
    """The stored position moved under a batch (another consumer applied it): roll back."""


class _Apart(Exception):
    """A poll's batches cannot be applied together plainly: roll back, apply each apart."""


class CeIdReused(PermanentError):
    """A record whose ``ce_id`` was applied before with other content: dead-lettered."""

    def __init__(self, ce_id: str, digest: str) -> None:
        super().__init__(
            f"ce_id {ce_id} was already applied with other content; this record's content "
            f"(sha256 {digest}) is not applied",
            reason_code="ce_id_reused",
        )


def dispatch(handlers: Mapping[type[ContractEvent], Handler]) -> Handler:
    """One handler from a handler per contract; other event types are acknowledged unhandled."""

    async def handle(conn: asyncpg.Connection, envelope: Envelope) -> None:
        handler = handlers.get(type(envelope.event))
        if handler is not None:
            await handler(conn, envelope)

    return handle


def each(handler: Handler) -> BatchHandler:
    """A batch handler that applies ``handler`` to each envelope in turn, in the batch's
    transaction: for a consumer that acts on few of the records it reads (the rest cost the
    batch's one transaction, not one each). ``handler`` must be safe to apply again (a batch
    that fails is retried whole)."""

    async def handle_all(conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            await handler(conn, envelope)

    return handle_all


def reason_code(error: BaseException) -> str:
    if isinstance(error, PermanentError):
        return error.reason_code
    if isinstance(error, ValidationError):
        return "validation_error"
    return type(error).__name__


class RecordProcessor:
    """Applies records at most once each and dead-letters the ones that can never apply."""

    def __init__(
        self,
        consumer: str,
        handler: Handler,
        *,
        inbox: Inbox,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        metrics: Metrics,
        permanent_errors: tuple[type[BaseException], ...],
    ) -> None:
        self.consumer = consumer
        self._handler = handler
        self._inbox = inbox
        self._pool = pool
        self._producer = producer
        self._metrics = metrics
        self._permanent = permanent_errors
        self.batch_handler: BatchHandler | None = None

    @classmethod
    def batched(
        cls,
        consumer: str,
        handler: BatchHandler,
        *,
        inbox: Inbox,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        metrics: Metrics,
        permanent_errors: tuple[type[BaseException], ...],
    ) -> RecordProcessor:
        """A processor whose handler takes batches; :meth:`process` then hands it one
        envelope at a time (the per-record fallback)."""

        async def one(conn: asyncpg.Connection, envelope: Envelope) -> None:
            await handler(conn, [envelope])

        processor = cls(
            consumer,
            one,
            inbox=inbox,
            pool=pool,
            producer=producer,
            metrics=metrics,
            permanent_errors=permanent_errors,
        )
        processor.batch_handler = handler
        return processor

    async def process_batch(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> BatchResult:
        """Apply records of ONE partition (offset order) in one transaction; falls back to
        :meth:`process` record by record when one of them is poisoned."""
        assert self.batch_handler is not None and records
        try:
            envelopes = [decode(r.headers, r.value, r.key) for r in records]
        except EnvelopeError:
            return await self._one_by_one(records)
        return await self._batch(records, envelopes)

    async def _batch(
        self, records: Sequence[ConsumerRecord[bytes, bytes]], envelopes: Sequence[Envelope]
    ) -> BatchResult:
        first, last = records[0], records[-1]
        try:
            stored, fresh = await self._apply_batch(records, envelopes)
        except _Behind:
            return BatchResult(next_offset=last.offset + 1)
        except (CeIdReused, *self._permanent):
            return await self._one_by_one(records)
        except Exception:
            log.warning("batch failed; will retry", consumer=self.consumer, exc_info=True)
            return BatchResult(next_offset=first.offset, retry=True)
        return self._result(records, stored, fresh)

    def _result(
        self, records: Sequence[ConsumerRecord[bytes, bytes]], stored: int, fresh: int
    ) -> BatchResult:
        first, last = records[0], records[-1]
        if stored < first.offset:
            # A gap before the batch (the position was moved back under us): go on from
            # Postgres, the source of truth.
            return BatchResult(next_offset=stored, seek=True)
        duplicates = len(records) - fresh
        if fresh:
            self._metrics.consumer_processed.labels(self.consumer, first.topic).inc(fresh)
        if duplicates:
            self._metrics.consumer_duplicates.labels(self.consumer, first.topic).inc(duplicates)
        return BatchResult(next_offset=last.offset + 1, changed=fresh > 0, processed=fresh)

    async def _one_by_one(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> BatchResult:
        processed = 0
        for record in records:
            outcome = await self.process(record)
            if outcome is Outcome.RETRY:
                return BatchResult(record.offset, retry=True, changed=processed > 0,
                                   processed=processed)  # fmt: skip
            processed += outcome is Outcome.PROCESSED
        return BatchResult(records[-1].offset + 1, changed=processed > 0, processed=processed)

    async def _apply_batch(
        self, records: Sequence[ConsumerRecord[bytes, bytes]], envelopes: Sequence[Envelope]
    ) -> tuple[int, int]:
        """(stored position before the batch, records applied); nothing is applied when the
        stored position is not inside the batch."""
        assert self.batch_handler is not None
        first, last = records[0], records[-1]
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await self._inbox.lock_position(conn, first.topic, first.partition)
            if stored is None:
                stored = first.offset
            if stored < first.offset or stored > last.offset:
                return stored, 0
            todo = [e for r, e in zip(records, envelopes, strict=True) if r.offset >= stored]
            items = [(e.id, payload_digest(e)) for e in todo]
            new_ids, before = await self._inbox.remember_many(conn, items)
            fresh: list[Envelope] = []
            for envelope, (ce_id, digest) in zip(todo, items, strict=True):
                if ce_id in new_ids:
                    new_ids.discard(ce_id)  # a ce_id twice in one batch applies once
                    before[ce_id] = digest
                    fresh.append(envelope)
                elif judge(before.get(ce_id), digest) is Seen.REUSED:
                    raise CeIdReused(ce_id, digest)  # decided again record by record
            if fresh:
                await self.batch_handler(conn, fresh)
            if not await self._inbox.advance(conn, last.topic, last.partition, last.offset):
                raise _Behind
            return stored, len(fresh)

    async def process_batches(
        self, batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]
    ) -> dict[TopicPartition, BatchResult] | None:
        """Apply several partitions' batches (each in offset order) in ONE transaction, each
        partition's position moving in it, with :meth:`process_batch`'s guarantees: one
        commit (and one set of round trips) for a whole poll, where a poll spread over many
        partitions (a live consumer keeping up) otherwise pays one transaction each.

        None when the poll cannot be applied plainly (a record that does not decode, a stored
        position outside its batch, a ``ce_id`` reused, the handler or Postgres failing):
        nothing was stored, and the caller applies each partition with
        :meth:`process_batch`, which decides every such case as it always has."""
        assert self.batch_handler is not None
        try:
            envelopes = {
                tp: [decode(r.headers, r.value, r.key) for r in records]
                for tp, records in batches.items()
            }
        except EnvelopeError:
            return None
        try:
            fresh = await self._apply_batches(batches, envelopes)
        except _Apart:
            return None
        except Exception:
            log.debug("poll not applied as one; applying its partitions apart",
                      consumer=self.consumer, exc_info=True)  # fmt: skip
            return None
        return {
            tp: self._result(records, records[0].offset, fresh[tp])
            for tp, records in batches.items()
        }

    async def _apply_batches(
        self,
        batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]],
        envelopes: Mapping[TopicPartition, Sequence[Envelope]],
    ) -> dict[TopicPartition, int]:
        """Records applied per partition; raises :class:`_Apart` (rolling back) when a
        stored position is not inside its batch or a ``ce_id`` was reused."""
        assert self.batch_handler is not None
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await self._inbox.lock_positions(
                conn, [(tp.topic, tp.partition) for tp in batches]
            )
            todo: list[tuple[TopicPartition, Envelope]] = []
            for tp, records in batches.items():
                first = records[0]
                at = stored.get((tp.topic, tp.partition), first.offset)
                if at != first.offset:  # behind or ahead of the batch: decided apart
                    raise _Apart
                todo += [(tp, e) for e in envelopes[tp]]
            items = [(e.id, payload_digest(e)) for _, e in todo]
            new_ids, before = await self._inbox.remember_many(conn, items)
            fresh: list[Envelope] = []
            counts = dict.fromkeys(batches, 0)
            for (tp, envelope), (ce_id, digest) in zip(todo, items, strict=True):
                if ce_id in new_ids:
                    new_ids.discard(ce_id)  # a ce_id twice in one poll applies once
                    before[ce_id] = digest
                    fresh.append(envelope)
                    counts[tp] += 1
                elif judge(before.get(ce_id), digest) is Seen.REUSED:
                    raise _Apart  # dead-lettered record by record
            if fresh:
                await self.batch_handler(conn, fresh)
            last_offsets = [(tp.topic, tp.partition, r[-1].offset) for tp, r in batches.items()]
            if await self._inbox.advance_many(conn, last_offsets) != len(batches):
                raise _Apart
            return counts

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        """Apply one record; ``RETRY`` means a transient failure: nothing was stored."""
        try:
            envelope = decode(record.headers, record.value, record.key)
        except EnvelopeError as e:
            return await self._dead_letter(record, e.reason_code, e.reason)
        with correlation(envelope.id):
            try:
                outcome = await self._apply(record, envelope)
            except (CeIdReused, *self._permanent) as e:
                return await self._dead_letter(record, reason_code(e), str(e))
            except Exception:
                log.warning("handler failed; will retry", consumer=self.consumer, exc_info=True)
                return Outcome.RETRY
        counter = (
            self._metrics.consumer_processed
            if outcome is Outcome.PROCESSED
            else self._metrics.consumer_duplicates
        )
        counter.labels(self.consumer, record.topic).inc()
        return outcome

    async def _apply(self, record: ConsumerRecord[bytes, bytes], envelope: Envelope) -> Outcome:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await self._inbox.advance(conn, record.topic, record.partition, record.offset):
                return Outcome.DUPLICATE
            digest = payload_digest(envelope)
            seen = await self._inbox.remember(conn, envelope.id, digest)
            if seen is Seen.AGAIN:
                return Outcome.DUPLICATE
            if seen is Seen.REUSED:
                # rolls the position back: it moves only once the dead letter is acknowledged
                raise CeIdReused(envelope.id, digest)
            await self._handler(conn, envelope)
            return Outcome.PROCESSED

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], code: str, reason: str
    ) -> Outcome:
        """Dead-letter, then (acknowledged) move the position past the record."""
        try:
            stored = await self._inbox.next_offset(self._pool, record.topic, record.partition)
            if stored > record.offset:
                self._metrics.consumer_duplicates.labels(self.consumer, record.topic).inc()
                return Outcome.DUPLICATE
            await send_dead_letter(
                self._producer, record, self.consumer, reason_code=code, reason=reason
            )
            async with self._pool.acquire() as conn, conn.transaction():
                await self._inbox.advance(conn, record.topic, record.partition, record.offset)
        except Exception:
            log.warning("dead-lettering failed; will retry", consumer=self.consumer, exc_info=True)
            return Outcome.RETRY
        self._metrics.consumer_dead_lettered.labels(self.consumer, record.topic, code).inc()
        where = f"{record.topic}/{record.partition}@{record.offset}"
        log.warning("record dead-lettered", consumer=self.consumer, record=where,
                    reason_code=code, reason=reason[:500])  # fmt: skip
        return Outcome.DEAD_LETTERED
