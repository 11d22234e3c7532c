"""``kgo replay``: rebuild read models from the topics into a fresh schema, then either swap
them into the live schema atomically (caught up exactly to the live consumer's positions),
or, with ``until``, keep them beside the live ones as a read-only past city (a snapshot).

The swap: with the live consumer's positions table locked (EXCLUSIVE: the live consumer's
next batch waits), the build reads on to the live positions, the live positions move up to
the build's where the build is ahead, and the rebuilt tables replace the live ones
(``ALTER TABLE ... SET SCHEMA``) in the same transaction. Readers see the old tables or the
new ones, never a mix.

How one partition's batch is applied (one transaction, republished events recognised,
records the live consumer validated decoded cheaply, bad records dead-lettered once):
:mod:`services.projections.entrypoints.replay_batches`. The build's tables get their
indexes (beside the primary keys) once caught up: one sort each instead of an index update
per row.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from kgo_contracts.topics import dlq
from kgo_runtime.collector import SERVED_THRESHOLDS
from kgo_runtime.inbox import Inbox
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.kafka_security import kafka_client_options
from kgo_runtime.postgres import create_tables
from services.projections.adapters.sql_fold import SqlFold
from services.projections.adapters.tables import ddl, index_ddl, model_names, tables_of
from services.projections.entrypoints.consumer import Projector
from services.projections.entrypoints.http.context import SNAPSHOT_NAME
from services.projections.entrypoints.replay_batches import BatchApplier
from services.projections.settings import ProjectionsSettings

Progress = Callable[[int, int, float], None]  # done, total, events per second


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """A replay allocates millions of short-lived objects beside long-lived ones: collect the
    young generation less often (a full collection otherwise walks every record in flight)."""
    before = gc.get_threshold()
    # A served process froze its start-up for good (kgo_runtime.collector): leave that so.
    served = gc.get_freeze_count() > 0
    gc.freeze()
    gc.set_threshold(*SERVED_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if not served:
            gc.unfreeze()


async def dead_lettered(bootstrap: str, topics: list[str]) -> set[tuple[str, int, int]]:
    """(topic, partition, offset) of every record a dead letter names, from the DLQs."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_client_options()
    )
    await consumer.start()
    found: set[tuple[str, int, int]] = set()
    try:
        tps: list[TopicPartition] = []
        for topic in topics:
            with contextlib.suppress(Exception):
                tps += await topic_partitions(bootstrap, dlq(topic))
        if not tps:
            return found
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            for tp, records in (await consumer.getmany(*pending, timeout_ms=500)).items():
                for r in records:
                    a = {n: v.decode() for n, v in r.headers if v is not None}
                    with contextlib.suppress(KeyError, ValueError):
                        found.add((a["kgo_dlq_source_topic"], int(a["kgo_dlq_source_partition"]),
                                   int(a["kgo_dlq_source_offset"])))  # fmt: skip
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return found
    finally:
        await consumer.stop()


@dataclass
class ReplayReport:
    models: list[str]
    schema: str
    events: int
    seconds: float
    skipped: int
    snapshot: str | None = None
    positions: dict[str, int] = field(default_factory=dict)
    #: Seconds spent reading and applying records (without set-up and swap).
    applying: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def apply_rate(self) -> float:
        return self.events / self.applying if self.applying > 0 else 0.0


class Replay:
    def __init__(
        self,
        settings: ProjectionsSettings,
        models: list[str] | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        snapshot: str | None = None,
        progress: Progress | None = None,
        batch_records: int = 20_000,
        side_by_side: bool = True,
        trust_live: bool = True,
        dedupe_window: int = 20_000,
        fold_in_postgres: bool = True,
        polls_in_flight: int = 2,
    ) -> None:
        self.settings = settings
        self.models = models or model_names()
        unknown = set(self.models) - set(model_names())
        if unknown:
            raise ValueError(f"unknown read models: {sorted(unknown)}")
        self.since, self.until = since, until
        self.snapshot = snapshot
        if until is not None and snapshot is None:
            self.snapshot = until.strftime("%Y_%m_%d_%H%M")
        if self.snapshot is not None and not SNAPSHOT_NAME.match(self.snapshot):
            raise ValueError(f"a snapshot name is 1-40 of a-z, 0-9, _: {self.snapshot!r}")
        self.progress = progress
        self.batch = batch_records
        self.side_by_side = side_by_side
        #: Polls read ahead while earlier ones are applied (1: read the next poll only once
        #: this one is applied).
        self.polls_in_flight = max(1, polls_in_flight)
        #: Decode records the live consumer validated without validating them again.
        self.trust_live = trust_live
        #: Republished events are recognised among this many recent ``ce_id``s per
        #: partition (the relay republishes at most its last batch of 500).
        self.dedupe_window = dedupe_window
        #: Let PostgreSQL fold trusted batches (adapters/sql_fold.py); ``since``/``until``
        #: replays always fold in Python.
        self.fold_in_postgres = fold_in_postgres and since is None and until is None
        self.live = settings.database_schema
        self.build = f"{self.live}__build_{uuid.uuid4().hex[:8]}"
        self.events = 0

    async def run(self) -> ReplayReport:
        started = time.monotonic()
        pool = await asyncpg.create_pool(self.settings.database_url, min_size=1, max_size=6)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            enable_auto_commit=False,
            client_id="kgo-replay",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **kafka_client_options(),
        )
        kafka = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            enable_idempotence=True,
            **kafka_client_options(),
        )
        await kafka.start()
        live = await self._live_positions(pool)
        try:
            inbox = Inbox("replay", self.build)
            # Side by side (each waits on the network or the server): the DLQs read, the
            # build's tables made, the topics' ends asked. One failing stops the others.
            try:
                async with asyncio.TaskGroup() as set_up:
                    dlqs = set_up.create_task(dead_lettered(self.settings.kafka_bootstrap,
                                                            self.settings.topics))  # fmt: skip
                    set_up.create_task(self._create_build(pool, inbox))
                    assigned = set_up.create_task(self._assign(consumer))
            except ExceptionGroup as e:
                raise e.exceptions[0] from None  # the first failure, as one step raised it
            rejected, (partitions, ends) = dlqs.result(), assigned.result()

            def trusted(tp: TopicPartition, first: int, last: int) -> bool:
                # Validated by the live consumer, which dead-lettered what failed.
                return last < live.get(tp, 0) and not any(
                    t == tp.topic and p == tp.partition and first <= o <= last
                    for t, p, o in rejected
                )

            applier = BatchApplier(
                Projector(self.build, self.models, since=self.since, until=self.until),
                inbox=inbox, pool=pool, producer=kafka, live=live,
                trusted=trusted if self.trust_live else None, window=self.dedupe_window,
                sql_fold=SqlFold(self.build, self.models) if self.fold_in_postgres else None,
            )  # fmt: skip
            at = {tp: await consumer.position(tp) for tp in partitions}
            total = sum(max(0, ends[tp] - at[tp]) for tp in partitions)
            applying = time.monotonic()
            with _fewer_collections():
                await self._catch_up(consumer, applier, at, ends, total, started)
            applying = time.monotonic() - applying
            async with pool.acquire() as conn:
                await conn.execute(";".join(index_ddl(self.build, self.models)))
            if self.snapshot is not None:
                schema = await self._keep_snapshot(pool)
            else:
                await self._swap(pool, consumer, applier, at, total, started)
                schema = self.live
            return ReplayReport(
                self.models, schema, self.events, time.monotonic() - started, applier.skipped,
                self.snapshot, {f"{tp.topic}/{tp.partition}": o for tp, o in at.items()},
                applying,
            )  # fmt: skip
        finally:
            await consumer.stop()
            await kafka.stop()
            async with pool.acquire() as conn:
                await conn.execute(f"DROP SCHEMA IF EXISTS {self.build} CASCADE")
            await pool.close()

    async def _create_build(self, pool: asyncpg.Pool, inbox: Inbox) -> None:
        await create_tables(pool, ddl(self.build, self.models, indexes=False))
        await inbox.create_tables(pool)

    async def _assign(
        self, consumer: AIOKafkaConsumer
    ) -> tuple[list[TopicPartition], dict[TopicPartition, int]]:
        """``consumer`` started on every partition of the topics, at the replay's start: the
        partitions and their end offsets."""
        await consumer.start()
        bootstrap = self.settings.kafka_bootstrap
        found = await asyncio.gather(
            *(topic_partitions(bootstrap, t) for t in self.settings.topics)
        )
        partitions = [tp for tps in found for tp in tps]
        consumer.assign(partitions)
        await self._seek_start(consumer, partitions)
        return partitions, await consumer.end_offsets(partitions)

    async def _live_positions(self, pool: asyncpg.Pool) -> dict[TopicPartition, int]:
        try:
            rows = await pool.fetch(
                f"SELECT topic, partition, next_offset FROM {self.live}.consumer_positions"
                " WHERE consumer = $1",
                self.settings.consumer_name,
            )
        except asyncpg.UndefinedTableError:
            return {}
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def _seek_start(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        await consumer.seek_to_beginning(*tps)
        if self.since is None:
            return
        # Records are timestamped when produced, never before their business time: seeking by
        # timestamp may start early (the projector skips earlier business times) but not late.
        found = await consumer.offsets_for_times({tp: int(self.since.timestamp() * 1000)
                                                   for tp in tps})  # fmt: skip
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            hit = found.get(tp)
            consumer.seek(tp, hit.offset if hit is not None else ends[tp])

    async def _catch_up(
        self,
        consumer: AIOKafkaConsumer,
        applier: BatchApplier,
        at: dict[TopicPartition, int],
        targets: dict[TopicPartition, int],
        total: int,
        started: float,
    ) -> None:
        """Apply records until every partition reached its target offset.

        Partitions apply side by side (one connection each), and the next poll is read while
        the last one's batches are still being applied (up to ``polls_in_flight``): the
        server folds one poll while this process unpacks the next. A partition's batches
        still apply one after the other, in offset order."""
        read = dict(at)  # the next offset to read, per partition
        pending = {tp for tp in at if at[tp] < targets[tp]}
        consumer.resume(*pending)
        consumer.pause(*(set(at) - pending))
        last: dict[TopicPartition, asyncio.Task[None]] = {}
        polls: list[list[asyncio.Task[None]]] = []
        try:
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=500, max_records=self.batch)
                poll = []
                for tp, found in batch.items():
                    if not found:
                        continue
                    end = targets[tp]
                    records = found if found[-1].offset < end else [
                        r for r in found if r.offset < end]  # fmt: skip
                    if not records:
                        continue
                    read[tp] = records[-1].offset + 1
                    job = self._apply(consumer, applier, tp, records, at, last.get(tp))
                    last[tp] = task = asyncio.ensure_future(job)
                    poll.append(task)
                    if not self.side_by_side:
                        await task
                polls.append(poll)
                while len(polls) > self.polls_in_flight:
                    await asyncio.gather(*polls.pop(0))
                for tp in list(pending):
                    if read[tp] >= targets[tp]:
                        pending.discard(tp)
                        consumer.pause(tp)
                if self.progress is not None:
                    elapsed = time.monotonic() - started
                    self.progress(self.events, total, self.events / elapsed if elapsed else 0.0)
                if not pending:
                    for poll in polls:
                        await asyncio.gather(*poll)
                    polls.clear()
                    # A batch that did not end where it was read moved its partition back.
                    pending = {tp for tp in at if at[tp] < targets[tp]}
                    read.update({tp: at[tp] for tp in pending})
                    consumer.resume(*pending)
        finally:
            for poll in polls:
                for task in poll:
                    task.cancel()

    async def _apply(self, consumer: AIOKafkaConsumer, applier: BatchApplier,
                     tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]],
                     at: dict[TopicPartition, int],
                     after: asyncio.Task[None] | None = None) -> None:  # fmt: skip
        if after is not None:
            await asyncio.shield(after)  # the partition's batch before this one
        next_offset = await applier.apply(tp, records)
        self.events += len(records)
        at[tp] = max(at[tp], next_offset)
        if next_offset != records[-1].offset + 1:
            consumer.seek(tp, at[tp])  # only when the batch did not end where it was read

    async def _keep_snapshot(self, pool: asyncpg.Pool) -> str:
        """The build becomes the snapshot schema (an older one of that name is replaced)."""
        assert self.snapshot is not None
        target = self.settings.snapshot_schema(self.snapshot)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"UPDATE {self.build}.progress SET snapshot_until = $1, built_at = now()",
                self.until,
            )
            await conn.execute(f"DROP SCHEMA IF EXISTS {target} CASCADE")
            await conn.execute(f"ALTER SCHEMA {self.build} RENAME TO {target}")
        self.build = f"{self.live}__build_{uuid.uuid4().hex[:8]}"  # nothing left to drop
        return target

    async def _swap(
        self,
        pool: asyncpg.Pool,
        consumer: AIOKafkaConsumer,
        applier: BatchApplier,
        at: dict[TopicPartition, int],
        total: int,
        started: float,
    ) -> None:
        live, name = self.live, self.settings.consumer_name
        await create_tables(pool, ddl(live, model_names()))
        await Inbox(name, live).create_tables(pool)
        old = f"{live}__old_{uuid.uuid4().hex[:8]}"
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"LOCK TABLE {live}.consumer_positions IN EXCLUSIVE MODE")
            rows = await conn.fetch(
                f"SELECT topic, partition, next_offset FROM {live}.consumer_positions"
                " WHERE consumer = $1",
                name,
            )
            stored = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}
            targets = {tp: max(stored.get(tp, 0), at[tp]) for tp in at}
            await self._catch_up(consumer, applier, at, targets, total, started)
            for tp, offset in at.items():
                await conn.execute(
                    f"INSERT INTO {live}.consumer_positions AS p"
                    " (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (consumer, topic, partition) DO UPDATE"
                    " SET next_offset = EXCLUDED.next_offset"
                    " WHERE p.next_offset < EXCLUDED.next_offset",
                    name, tp.topic, tp.partition, offset,
                )  # fmt: skip
            await conn.execute(f"CREATE SCHEMA {old}")
            for table in tables_of(self.models):
                await conn.execute(f"ALTER TABLE {live}.{table} SET SCHEMA {old}")
                await conn.execute(f"ALTER TABLE {self.build}.{table} SET SCHEMA {live}")
            await conn.execute(
                f"UPDATE {live}.progress SET committed_at = now(), business_time ="
                f" GREATEST(business_time, (SELECT business_time FROM {self.build}.progress))"
            )
            await conn.execute(f"DROP SCHEMA {old} CASCADE")
