"""The machine's raw limits: single-row insert transactions on Postgres, and Kafka produce and
consume rates. The wallet's numbers are held against these."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kgo_runtime.testing import fresh_schema

from .measure import Sample, closed_loop

ROW_BYTES = 300
RECORD_BYTES = 400


# --- Postgres ---------------------------------------------------------------------------------


async def postgres_inserts(
    dsn: str, schema: str, *, concurrency: int, duration: float, warmup: float
) -> Sample:
    """One INSERT of a ~300-byte row per transaction (autocommit), one connection per worker."""
    table = f"{schema}.raw_rows_{concurrency}"
    async with asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency) as pool:
        await pool.execute(
            f"CREATE TABLE {table} "
            "(id bigserial PRIMARY KEY, row_key uuid NOT NULL, body bytea NOT NULL)"
        )
        conns = [await pool.acquire() for _ in range(concurrency)]
        try:
            sql = f"INSERT INTO {table} (row_key, body) VALUES ($1, $2)"
            stmts = [await conn.prepare(sql) for conn in conns]
            body = os.urandom(ROW_BYTES - 16)

            async def insert(worker: int, _n: int) -> None:
                await stmts[worker].fetch(uuid.uuid4(), body)

            return await closed_loop(
                insert, concurrency=concurrency, duration=duration, warmup=warmup
            )
        finally:
            for conn in conns:
                await pool.release(conn)


async def postgres_insert_rates(
    dsn: str, concurrencies: Sequence[int], *, duration: float, warmup: float = 0.5
) -> dict[int, Sample]:
    """:func:`postgres_inserts` at each concurrency, on a schema made and dropped for it: the
    raw limit a service's benchmark prints beside its own rates, measured in the same run."""
    async with fresh_schema(dsn, "bench_raw") as schema:
        return {
            n: await postgres_inserts(dsn, schema, concurrency=n, duration=duration, warmup=warmup)
            for n in concurrencies
        }


async def server_facts(dsn: str) -> tuple[str, str | None]:
    """(server version, data directory if this role may read it)."""
    conn = await asyncpg.connect(dsn)
    try:
        version = str(await conn.fetchval("SHOW server_version"))
        try:
            data_dir = str(await conn.fetchval("SHOW data_directory"))
        except asyncpg.PostgresError:
            data_dir = None
        return version, data_dir
    finally:
        await conn.close()


# --- Kafka ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_topic(bootstrap: str, prefix: str, partitions: int = 6) -> AsyncIterator[str]:
    """A new topic whose partitions all have a leader; deleted afterwards."""
    name = f"bench.{prefix}.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
        for _ in range(200):
            meta = await admin.describe_topics([name])
            parts = meta[0]["partitions"] if meta and meta[0]["error_code"] == 0 else []
            if len(parts) == partitions and all(p["leader"] >= 0 for p in parts):
                break
            await asyncio.sleep(0.05)
        yield name
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics([name])
        await admin.close()


def producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5
    )


@dataclass(frozen=True)
class Throughput:
    count: int
    seconds: float
    latencies: list[float]
    #: CPU time of this whole process (every thread) during the run.
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


async def kafka_produce(bootstrap: str, topic: str, count: int, warmup: int) -> Throughput:
    """Keyed ~400-byte records, sent back to back (pipelined); latency is send -> ack."""
    body = os.urandom(RECORD_BYTES - 40)
    latencies: list[float] = []
    kafka = producer(bootstrap)
    await kafka.start()
    try:
        # A fresh topic's first produce may meet a leader still settling in; it is retried.
        sender_log = logging.getLogger("aiokafka")
        level = sender_log.level
        sender_log.setLevel(logging.ERROR)
        try:
            await asyncio.gather(
                *[await kafka.send(topic, body, key=b"warm-%d" % i) for i in range(warmup)]
            )
        finally:
            sender_log.setLevel(level)
        pending = []
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(count):
            sent_at = time.perf_counter()
            future = await kafka.send(topic, body, key=str(uuid.UUID(int=i)).encode())
            future.add_done_callback(
                lambda _f, t=sent_at: latencies.append(time.perf_counter() - t)
            )
            pending.append(future)
        await asyncio.gather(*pending)
        seconds = time.perf_counter() - started
        return Throughput(count, seconds, latencies, time.process_time() - cpu)
    finally:
        await kafka.stop()


async def kafka_consume(bootstrap: str, topic: str, count: int) -> Throughput:
    """Read ``count`` records from the start of ``topic`` (assigned partitions, no group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        seen = 0
        started = time.perf_counter()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batches and time.perf_counter() - started > 30:
                break
            seen += sum(len(records) for records in batches.values())
        return Throughput(seen, time.perf_counter() - started, [])
    finally:
        await consumer.stop()
