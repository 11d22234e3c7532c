"""How ``kgo replay`` applies what one poll returned for one partition: ONE transaction
that locks the partition's position in the build schema, drops records behind it and
republished ones, folds and writes the rest, and moves the position past the last record,
so the effect and the position commit together (a retried batch starts from the stored
position: nothing applies twice).

Republished events (the relay resends at most its last batch after a crash, under the same
``ce_id``s, in the same partition since the key is the same) are recognised in memory: the
replay is the build schema's only writer and reads each partition once, in order, so
:class:`RecentIds` remembers, per partition, where each of the last ``window`` ``ce_id``s
was first read. A record is applied only at its first position; a retried batch meets its
own positions again and applies. (The live consumer keeps its ``ce_id``s in a Postgres
inbox instead; in a replay that index cost as much as every read model together.)

Decoding: a batch whose records the live consumer all validated already goes through the
trusted decoder; any other batch (or one the trusted decoder cannot read) is validated in
full. With an :class:`SqlFold`, a trusted batch is not decoded at all: its values go to
PostgreSQL, which folds them (see :mod:`services.projections.adapters.sql_fold`). A record
that fails validation is skipped: below the live position the live consumer
dead-lettered it already (counted, not sent twice), beyond it the replay dead-letters it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, TypeAlias

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from kgo_runtime.deadletter import send_dead_letter
from kgo_runtime.envelope import EnvelopeError, decode
from kgo_runtime.inbox import Inbox
from kgo_runtime.logging import get_logger
from services.projections.adapters.sql_fold import FOLDED, SqlFold
from services.projections.adapters.trusted import read_ids, read_trusted
from services.projections.entrypoints.consumer import Projector

Record: TypeAlias = ConsumerRecord[bytes, bytes]
#: (ce_id, wire name, event) of one record, or why it failed validation.
Decoded: TypeAlias = tuple[str, str, Any] | EnvelopeError

log = get_logger(__name__)


class _Unreadable(Exception):
    """A trusted record the SQL fold cannot take: its batch is decoded in Python instead."""


class RecentIds:
    """Where each of the last ``window`` ``ce_id``s of each partition was first read."""

    def __init__(self, window: int) -> None:
        self.window = window
        #: Per partition: each id's first offset, and the ids oldest first (to forget the
        #: oldest by name: finding the first key of a dict scans past the holes its earlier
        #: deletions left, 3-5 µs a record once the window is full).
        self._first: dict[TopicPartition, tuple[dict[str, int], deque[str]]] = {}

    def first(self, tp: TopicPartition, ce_id: str, offset: int) -> bool:
        """True at the record's first position (again on a retry), False for a republished
        event."""
        kept = self._first.get(tp)
        if kept is None:
            kept = self._first[tp] = ({}, deque())
        seen, order = kept
        at = seen.get(ce_id)
        if at is None:
            seen[ce_id] = offset
            order.append(ce_id)
            if len(order) > self.window:
                del seen[order.popleft()]
            return True
        return at == offset


class BatchApplier:
    def __init__(
        self,
        projector: Projector,
        *,
        inbox: Inbox,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        live: dict[TopicPartition, int],
        trusted: Callable[[TopicPartition, int, int], bool] | None,
        window: int,
        sql_fold: SqlFold | None = None,
    ) -> None:
        self.projector = projector
        self.sql_fold = sql_fold
        self.inbox = inbox
        self.pool = pool
        self.producer = producer
        self.live = live
        self.trusted = trusted
        self.ids = RecentIds(window)
        #: Records that failed validation (dead-lettered by the live consumer or here).
        self.skipped = 0

    async def apply(self, tp: TopicPartition, records: list[Record]) -> int:
        """Apply ``records`` (one partition, offset order); returns the next offset to read."""
        first, last = records[0].offset, records[-1].offset
        if self.sql_fold is not None and self.trusted is not None and self.trusted(tp, first, last):
            try:
                return await self._retrying(tp, records, None)
            except _Unreadable:
                log.info("SQL fold fell back to decoding", records=len(records))
        decoded = self._decode(tp, records)
        for record, item in zip(records, decoded, strict=True):
            if isinstance(item, EnvelopeError):
                await self._dead_letter(record, item)
        return await self._retrying(tp, records, decoded)

    async def _retrying(
        self, tp: TopicPartition, records: list[Record], decoded: list[Decoded] | None
    ) -> int:
        backoff = 0.2
        while True:
            try:
                return await self._transaction(tp, records, decoded)
            except _Unreadable:
                raise
            except Exception:
                log.warning("replay batch failed; will retry", partition=str(tp), exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _raw(
        self, tp: TopicPartition, records: list[Record], stored: int
    ) -> tuple[list[str], list[bytes], list[bytes]]:
        """For the SQL fold, in one pass: the wire names and values of the records to fold,
        and the values of those whose business time is all that counts."""
        names: list[str] = []
        values: list[bytes] = []
        others: list[bytes] = []
        first = self.ids.first
        for r in records:
            if r.offset < stored:
                continue
            try:
                ce_id, name = read_ids(r)
            except Exception as e:
                raise _Unreadable from e
            if first(tp, ce_id, r.offset):
                if name in FOLDED:
                    names.append(name)
                    values.append(r.value)
                else:
                    others.append(r.value)
        return names, values, others

    def _decode(self, tp: TopicPartition, records: list[Record]) -> list[Decoded]:
        if self.trusted is not None and self.trusted(tp, records[0].offset, records[-1].offset):
            try:
                return [read_trusted(r) for r in records]
            except Exception:
                log.info("trusted decode fell back to validation", records=len(records))
        out: list[Decoded] = []
        for r in records:
            try:
                envelope = decode(r.headers, r.value)
            except EnvelopeError as e:
                out.append(e)
                continue
            out.append((envelope.id, envelope.type.rsplit(".", 1)[0], envelope.event))
        return out

    async def _dead_letter(self, record: Record, error: EnvelopeError) -> None:
        self.skipped += 1
        if record.offset < self.live.get(TopicPartition(record.topic, record.partition), 0):
            return  # the live consumer judged it already
        await send_dead_letter(self.producer, record, "replay", reason_code=error.reason_code,
                               reason=error.reason)  # fmt: skip

    async def _transaction(
        self, tp: TopicPartition, records: list[Record], decoded: list[Decoded] | None
    ) -> int:
        """``decoded`` None: the SQL fold takes the records' values as they are."""
        first, last = int(records[0].offset), int(records[-1].offset)
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await self.inbox.lock_position(conn, tp.topic, tp.partition)
            stored = first if stored is None else stored
            if stored < first or stored > last:
                return stored  # a gap (read on from the stored position) or all done
            if decoded is None:
                assert self.sql_fold is not None
                names, values, others = self._raw(tp, records, stored)
                if names or others:
                    await self.sql_fold.apply(conn, names, values, others)
                await self.inbox.advance(conn, tp.topic, tp.partition, last)
                return last + 1
            events: list[tuple[str, Any]] = []
            for r, item in zip(records, decoded, strict=True):
                if isinstance(item, EnvelopeError) or r.offset < stored:
                    continue
                ce_id, name, event = item
                if self.ids.first(tp, ce_id, r.offset):
                    events.append((name, event))
            if events:
                await self.projector.apply(conn, events)
            await self.inbox.advance(conn, tp.topic, tp.partition, last)
        return last + 1
