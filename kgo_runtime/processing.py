"""What the idempotent consumer does with one record, on the Postgres side.

In ONE transaction: move the partition's stored position past the record (no row moved: the
offset was already processed), record its ``ce_id`` in the inbox (already there: a
republished event) and call the handler with that connection, so the effect, the dedupe
record and the position commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import Enum

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from pydantic import ValidationError

from kgo_contracts.base import ContractEvent
from kgo_runtime.deadletter import PermanentError, send_dead_letter
from kgo_runtime.envelope import Envelope, EnvelopeError, decode
from kgo_runtime.inbox import Inbox
from kgo_runtime.logging import correlation, get_logger
from kgo_runtime.metrics import Metrics

#: Applies one event's effect through ``conn``, inside the consumer's transaction.
Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]

log = get_logger(__name__)


class Outcome(Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    RETRY = "retry"


def dispatch(handlers: Mapping[type[ContractEvent], Handler]) -> Handler:
    """One handler from a handler per contract; other event types are acknowledged unhandled."""

    async def handle(conn: asyncpg.Connection, envelope: Envelope) -> None:
        handler = handlers.get(type(envelope.event))
        if handler is not None:
            await handler(conn, envelope)

    return handle


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

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        """Apply one record; ``RETRY`` means a transient failure: nothing was stored."""
        try:
            envelope = decode(record.headers, record.value)
        except EnvelopeError as e:
            return await self._dead_letter(record, e.reason_code, e.reason)
        with correlation(envelope.id):
            try:
                outcome = await self._apply(record, envelope)
            except self._permanent as e:
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
            if not await self._inbox.remember(conn, envelope.id):
                return Outcome.DUPLICATE
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
