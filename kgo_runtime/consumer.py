"""The idempotent consumer: each record's effect, its dedupe record and the partition's next
offset commit in ONE Postgres transaction, and Postgres (not Kafka) is where a consumer
resumes from.

Why a plain aiokafka consumer and not a FastStream subscriber: correctness here hangs on two
things FastStream does not expose — seeking every newly assigned partition to the offset
stored in Postgres *before* any record of it is handled, and holding one partition back while
a transient failure is retried without stopping the others or the poll loop. aiokafka gives
both directly: a ``ConsumerRebalanceListener`` whose ``on_partitions_assigned`` pauses every
newly assigned partition (nothing of it is fetched or handled), and ``pause``/``seek``/``resume``
per partition. The poll loop, the only place records are applied, then reads the stored
positions and seeks: reading them anywhere else (the listener runs in aiokafka's coordinator
task, beside the poll loop) could seek with a position read before the poll loop moved it,
and re-read what was already applied. Kafka group
membership still spreads partitions over processes; Kafka's committed offsets are not used
(auto-commit off). FastStream stays the choice for plain publishers, AsyncAPI docs and
in-memory broker tests; its Prometheus middleware goes on the same registry
(:meth:`kgo_runtime.metrics.Metrics.faststream_middleware`).

Per record (:class:`~kgo_runtime.processing.RecordProcessor`):

* not a valid KGO CloudEvent (:class:`~kgo_runtime.envelope.EnvelopeError`), or the handler
  raises :class:`~kgo_runtime.deadletter.PermanentError` or a pydantic ``ValidationError``:
  the record goes to ``<topic>.dlq`` with ``kgo_dlq_*`` headers; once the broker acknowledged
  it, the position moves past it and the consumer carries on;
* offset already behind the stored position, or ``ce_id`` already in the inbox with the
  same content (the digest stored beside it): skipped (counted as a duplicate), the position
  still moves forward; the same ``ce_id`` with other content is dead-lettered
  ``ce_id_reused``;
* any other exception is transient: the partition is paused, seeked back to the record and
  retried after an exponential backoff; other partitions keep going.

Batched mode (``batched=True``, the handler a :data:`~kgo_runtime.processing.BatchHandler`):
what one poll returned for a partition is applied in one transaction
(:meth:`~kgo_runtime.processing.RecordProcessor.process_batch`), with the same guarantees;
a poisoned record falls back to one transaction per record. ``after_commit`` is called after
every transaction that changed something (a change feed for readers of the tables).
``partitions_at_once`` > 1 applies that many partitions' batches of a poll side by side
(one transaction and connection each), so their round trips to Postgres overlap.
``across_partitions`` (a handler that takes envelopes of several partitions at once) applies
a poll's batches of all its partitions in one transaction first
(:meth:`~kgo_runtime.processing.RecordProcessor.process_batches`), and each apart as above
only when that cannot be done plainly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from pydantic import ValidationError

from kgo_runtime.deadletter import PermanentError
from kgo_runtime.inbox import Inbox
from kgo_runtime.kafka_security import kafka_client_options
from kgo_runtime.logging import get_logger
from kgo_runtime.metrics import Metrics
from kgo_runtime.postgres import Database, open_pool
from kgo_runtime.processing import (
    BatchHandler,
    BatchResult,
    Handler,
    Outcome,
    RecordProcessor,
    dispatch,
)

__all__ = [
    "BatchHandler",
    "Handler",
    "IdempotentConsumer",
    "Outcome",
    "PermanentError",
    "dispatch",
]

log = get_logger(__name__)

#: How often a consumer drops inbox rows older than its dedupe window.
PRUNE_EVERY_SECONDS = 300.0


class IdempotentConsumer:
    """A Kafka consumer group member applying ``handler`` exactly once per event."""

    def __init__(
        self,
        name: str,
        topics: Sequence[str],
        handler: Handler | BatchHandler,
        *,
        kafka_bootstrap: str,
        db: Database,
        schema: str = "public",
        metrics: Metrics | None = None,
        producer: AIOKafkaProducer | None = None,
        group_id: str | None = None,
        max_records: int = 500,
        backoff: tuple[float, float] = (0.2, 30.0),
        permanent_errors: tuple[type[BaseException], ...] = (PermanentError, ValidationError),
        inbox_keep_seconds: float = 7 * 24 * 3600,
        batched: bool = False,
        after_commit: Callable[[], None] | None = None,
        partitions_at_once: int = 1,
        across_partitions: bool = False,
    ) -> None:
        self.name = f"consumer:{name}"
        self.consumer_name = name
        self.topics = list(topics)
        self.handler = handler
        self._bootstrap = kafka_bootstrap
        self._db = db
        self._inbox = Inbox(name, schema)
        self._metrics = metrics or Metrics(service=name)
        self._shared_producer = producer
        self._group_id = group_id or f"kgo.{name}"
        self._max_records = max_records
        self._min_backoff, self._max_backoff = backoff
        self._permanent = permanent_errors
        self._stopping = asyncio.Event()
        self._pool: asyncpg.Pool | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._processor: RecordProcessor | None = None
        self._unpositioned: set[TopicPartition] = set()
        #: Bumped by every revocation and assignment: a positioning that read Postgres across
        #: one is not applied (the partitions are positioned again, from a fresh read).
        self._generation = 0
        self._retry_at: dict[TopicPartition, float] = {}
        self._attempts: dict[TopicPartition, int] = {}
        self._next: dict[TopicPartition, int] = {}
        #: Kafka timestamps (s) of the last record applied and of a record held back, per
        #: partition: what the lag in seconds is measured from.
        self._applied_at: dict[TopicPartition, float] = {}
        self._held_at: dict[TopicPartition, float] = {}
        self._lag_seconds: dict[TopicPartition, float] = {}
        self._inbox_keep = inbox_keep_seconds
        self._pruned_at = 0.0
        self._batched = batched
        self._after_commit = after_commit
        #: Batched mode: how many partitions' batches of one poll are applied side by side
        #: (each its own transaction and connection); 1: one after the other.
        self._at_once = max(1, partitions_at_once)
        #: Batched mode: a poll's batches of several partitions applied in one transaction
        #: first (a handler that takes envelopes of any partitions together), each apart
        #: only if that cannot be done plainly.
        self._across = across_partitions

    async def run(self) -> None:
        """Component entry point: consume until ``stop()``."""
        pool, owns_pool = await open_pool(self._db)
        self._pool = pool
        producer = self._shared_producer or AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=f"kgo-{self.name}",
            enable_idempotence=True,
            **kafka_client_options(),
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            client_id=f"kgo-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **kafka_client_options(),
        )
        try:
            await self._inbox.create_tables(pool)
            if producer is not self._shared_producer:
                await producer.start()
            make = RecordProcessor.batched if self._batched else RecordProcessor
            self._processor = make(
                self.consumer_name,
                self.handler,  # type: ignore[arg-type]
                inbox=self._inbox,
                pool=pool,
                producer=producer,
                metrics=self._metrics,
                permanent_errors=self._permanent,
            )
            self._consumer = consumer
            consumer.subscribe(self.topics, listener=_SeekToStoredPositions(self))
            await consumer.start()
            log.info("consumer started", consumer=self.consumer_name, topics=self.topics)
            while not self._stopping.is_set():
                await self._poll_once(consumer)
                await self._prune_inbox(pool)
        finally:
            self._consumer = None
            with contextlib.suppress(Exception):
                await consumer.stop()
            if producer is not self._shared_producer:
                with contextlib.suppress(Exception):
                    await producer.stop()
            if owns_pool:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pool.close(), 5)

    async def stop(self) -> None:
        self._stopping.set()

    async def _prune_inbox(self, pool: asyncpg.Pool) -> None:
        """Every few minutes, drop inbox rows older than the dedupe window."""
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        try:
            pruned = await self._inbox.prune(pool, self._inbox_keep)
        except Exception:
            log.warning("inbox prune failed; will retry", consumer=self.consumer_name)
            return
        if pruned:
            log.info("inbox pruned", consumer=self.consumer_name, rows=pruned)

    async def _poll_once(self, consumer: AIOKafkaConsumer) -> None:
        processor = self._processor
        assert processor is not None
        if self._unpositioned:
            await self._seek_to_stored(consumer)
        now = time.monotonic()
        for tp in [tp for tp, at in self._retry_at.items() if at <= now]:
            del self._retry_at[tp]
            if tp not in consumer.assignment():
                self._attempts.pop(tp, None)  # revoked while held back: another member's now
            elif tp not in self._unpositioned:
                consumer.resume(tp)
        wait = min([0.5, *(at - now for at in self._retry_at.values())])
        batch = await consumer.getmany(
            timeout_ms=max(10, int(wait * 1000)), max_records=self._max_records
        )
        if self._batched:
            await self._apply_batches(consumer, processor, batch)
            self._update_lag(consumer)
            return
        for tp, records in batch.items():
            for record in records:
                if tp in self._retry_at or tp in self._unpositioned or self._stopping.is_set():
                    break
                if tp not in consumer.assignment():
                    break
                if await processor.process(record) is Outcome.RETRY:
                    self._hold_back(consumer, tp, record.offset, record.timestamp)
                    break
                self._attempts.pop(tp, None)
                self._next[tp] = record.offset + 1
                self._applied(tp, record.timestamp)
        self._update_lag(consumer)

    async def _apply_batches(
        self,
        consumer: AIOKafkaConsumer,
        processor: RecordProcessor,
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    ) -> None:
        if self._across and len(batch) > 1:
            ready = {tp: records for tp, records in batch.items() if self._ready(consumer, tp)
                     and records}  # fmt: skip
            results = await processor.process_batches(ready) if len(ready) > 1 else None
            if results is not None:
                if self._after_commit is not None and any(r.changed for r in results.values()):
                    self._after_commit()
                for tp, result in results.items():
                    self._done(consumer, tp, ready[tp], result)
                return
        if self._at_once == 1 or len(batch) == 1:
            for tp, records in batch.items():
                await self._apply_partition(consumer, processor, tp, records)
            return
        # Side by side: the transactions' round trips overlap (a poll's partitions are
        # independent; each keeps its own position, retries and backoff).
        slots = asyncio.Semaphore(self._at_once)

        async def one(tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
            async with slots:
                await self._apply_partition(consumer, processor, tp, records)

        done = await asyncio.gather(*(one(tp, r) for tp, r in batch.items()),
                                    return_exceptions=True)  # fmt: skip
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _apply_partition(
        self,
        consumer: AIOKafkaConsumer,
        processor: RecordProcessor,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
    ) -> None:
        if not self._ready(consumer, tp) or not records:
            return
        result = await processor.process_batch(records)
        if result.changed and self._after_commit is not None:
            self._after_commit()
        self._done(consumer, tp, records, result)

    def _ready(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> bool:
        """Whether a batch polled for ``tp`` may be applied now (not held back, positioned,
        still assigned, not stopping)."""
        return not (
            tp in self._retry_at
            or tp in self._unpositioned
            or self._stopping.is_set()
            or tp not in consumer.assignment()
        )

    def _done(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        result: BatchResult,
    ) -> None:
        if result.retry:
            held = [r.timestamp for r in records if r.offset == result.next_offset]
            self._hold_back(consumer, tp, result.next_offset, held[0] if held else None)
            return
        self._attempts.pop(tp, None)
        if result.seek:
            consumer.seek(tp, result.next_offset)
        self._next[tp] = result.next_offset
        self._applied(tp, records[-1].timestamp)

    def _applied(self, tp: TopicPartition, timestamp_ms: int | None) -> None:
        self._held_at.pop(tp, None)
        if timestamp_ms is not None and timestamp_ms > 0:
            self._applied_at[tp] = timestamp_ms / 1000

    def _hold_back(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        offset: int,
        timestamp_ms: int | None = None,
    ) -> None:
        if timestamp_ms is not None and timestamp_ms > 0:
            self._held_at.setdefault(tp, timestamp_ms / 1000)
        attempts = self._attempts.get(tp, 0) + 1
        self._attempts[tp] = attempts
        delay = min(self._min_backoff * 2 ** (attempts - 1), self._max_backoff)
        if tp in consumer.assignment():  # else revoked meanwhile: positioned when reassigned
            consumer.seek(tp, offset)
            consumer.pause(tp)
        self._retry_at[tp] = time.monotonic() + delay
        self._metrics.consumer_retries.labels(self.consumer_name, tp.topic).inc()

    async def _seek_to_stored(self, consumer: AIOKafkaConsumer) -> None:
        """Seek the unpositioned partitions to their stored positions (the beginning if none);
        resume those not held back. Called from the poll loop only, between polls, so no
        record of this process commits while the positions are read."""
        assert self._pool is not None
        self._unpositioned &= consumer.assignment()
        tps = set(self._unpositioned)
        if not tps:
            return
        generation = self._generation
        try:
            stored = await self._inbox.positions(self._pool, [(t.topic, t.partition) for t in tps])
            missing = [tp for tp in tps if (tp.topic, tp.partition) not in stored]
            beginnings = await consumer.beginning_offsets(missing) if missing else {}
        except Exception:
            log.warning("cannot load stored positions yet", consumer=self.name, exc_info=True)
            await asyncio.sleep(self._min_backoff)
            return
        if generation != self._generation:
            return  # the group rebalanced meanwhile: position from a fresh read next poll
        for tp in tps:
            offset = stored.get((tp.topic, tp.partition), beginnings.get(tp, 0))
            consumer.seek(tp, offset)
            self._next[tp] = offset
            self._unpositioned.discard(tp)
            if tp not in self._retry_at:
                consumer.resume(tp)
        log.info("partitions positioned from Postgres", consumer=self.name, positions=len(tps))

    def _forget(self, revoked: set[TopicPartition]) -> None:
        self._generation += 1
        for tp in revoked:
            self._unpositioned.discard(tp)
            # _retry_at and _attempts stay: a partition given back to this process keeps its
            # backoff (an expired entry of a partition not given back is dropped when due).
            self._next.pop(tp, None)
            self._applied_at.pop(tp, None)
            self._held_at.pop(tp, None)
            self._lag_seconds.pop(tp, None)
            # Another member reports this partition now: drop this process's stale series.
            labels = (self.consumer_name, tp.topic, str(tp.partition))
            for gauge in (self._metrics.consumer_lag, self._metrics.consumer_lag_seconds):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)

    def _hold_until_positioned(self, assigned: set[TopicPartition]) -> None:
        """Pause the newly assigned partitions until the poll loop has positioned them."""
        self._generation += 1
        consumer = self._consumer
        if not assigned or consumer is None:
            return
        consumer.pause(*assigned)
        self._unpositioned |= assigned

    def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        now = time.time()
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if tp in self._next:
                self._metrics.consumer_position.labels(
                    self.consumer_name, tp.topic, str(tp.partition)
                ).set(self._next[tp])
            if highwater is not None and tp in self._next:
                behind = max(0, highwater - self._next[tp])
                labels = (self.consumer_name, tp.topic, str(tp.partition))
                self._metrics.consumer_lag.labels(*labels).set(behind)
                since = self._held_at.get(tp, self._applied_at.get(tp))
                seconds = max(0.0, now - since) if behind and since is not None else 0.0
                self._metrics.consumer_lag_seconds.labels(*labels).set(seconds)
                self._lag_seconds[tp] = seconds

    def lag_seconds(self) -> float:
        """The largest lag in seconds over this process's partitions (a read model's
        staleness); read at scrape time, from the last values the poll loop measured."""
        return max(self._lag_seconds.values(), default=0.0)


class _SeekToStoredPositions(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hold every newly assigned partition until the poll loop seeked it to its stored
    position (see :meth:`IdempotentConsumer._seek_to_stored`)."""

    def __init__(self, owner: IdempotentConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._owner._forget(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._owner._hold_until_positioned(assigned)
