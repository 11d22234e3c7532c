"""Projections integration fixtures: their own topics (3 partitions, DLQs) and schemas."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from kgo_contracts import topics as names
from kgo_contracts.base import ContractEvent
from kgo_runtime.consumer import IdempotentConsumer
from kgo_runtime.envelope import OutgoingRecord, encode
from kgo_runtime.postgres import create_tables
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from services.projections.adapters.tables import ddl, model_names
from services.projections.entrypoints.consumer import Projector
from services.projections.settings import ProjectionsSettings

INFRA = InfraSettings()
BOOTSTRAP = INFRA.kafka_bootstrap
DSN = INFRA.database_url("projections")


@pytest.fixture
async def settings() -> AsyncIterator[ProjectionsSettings]:
    suffix = uuid.uuid4().hex[:10]
    topic = {t: unique_name(f"t.{t.split('.')[1]}") for t in names.EVENT_TOPICS}
    every = [*topic.values(), *(names.dlq(t) for t in topic.values())]
    await create_topics(BOOTSTRAP, every, partitions=3)
    settings = ProjectionsSettings(
        database_schema=f"t_proj_{suffix}",
        consumer_name=f"projections_{suffix}",
        wallet_topic=topic[names.WALLET],
        missions_topic=topic[names.MISSIONS],
        merchant_topic=topic[names.MERCHANT],
        transit_topic=topic[names.TRANSIT],
        suppress_below=3,
    )
    yield settings
    await delete_topics(BOOTSTRAP, every)
    conn = await asyncpg.connect(DSN)
    try:
        for row in await conn.fetch(
            "SELECT schema_name FROM information_schema.schemata"
            " WHERE starts_with(schema_name, $1)",
            settings.database_schema,
        ):
            await conn.execute(f"DROP SCHEMA {row['schema_name']} CASCADE")
    finally:
        await conn.close()


def records(settings: ProjectionsSettings, events: Sequence[ContractEvent]) -> list[OutgoingRecord]:
    topic = {
        names.WALLET: settings.wallet_topic,
        names.MISSIONS: settings.missions_topic,
        names.MERCHANT: settings.merchant_topic,
        names.TRANSIT: settings.transit_topic,
    }
    return [
        encode(e, ce_id=str(uuid.uuid4()), source=e.ce_source(), topic_for=lambda e: topic[e.topic])
        for e in events
    ]


async def produce(records: Sequence[OutgoingRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        for r in records:
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
        await producer.flush()
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def live_consumer(settings: ProjectionsSettings) -> AsyncIterator[IdempotentConsumer]:
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=4)
    await create_tables(pool, ddl(settings.database_schema, model_names()))
    consumer = IdempotentConsumer(
        settings.consumer_name,
        settings.topics,
        Projector(settings.database_schema, model_names()),
        kafka_bootstrap=BOOTSTRAP,
        db=pool,
        schema=settings.database_schema,
        batched=True,
        max_records=5000,
        backoff=(0.05, 0.2),
    )
    running = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        await consumer.stop()
        await asyncio.wait_for(running, 15)
        await pool.close()


async def wait_for_position(settings: ProjectionsSettings, count: int, timeout: float = 60) -> None:
    """Until the live consumer's stored positions add up to ``count`` records."""
    conn = await asyncpg.connect(DSN)
    try:
        for _ in range(int(timeout / 0.05)):
            with contextlib.suppress(asyncpg.UndefinedTableError):
                done = await conn.fetchval(
                    f"SELECT coalesce(sum(next_offset), 0) FROM"
                    f" {settings.database_schema}.consumer_positions WHERE consumer = $1",
                    settings.consumer_name,
                )
                if done >= count:
                    return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"consumer at {done} of {count} records")
    finally:
        await conn.close()


async def dump(schema: str, tables: Sequence[str]) -> dict[str, list[tuple[object, ...]]]:
    """Every row of ``tables``, sorted, for comparing two schemas."""
    conn = await asyncpg.connect(DSN)
    try:
        out = {}
        for table in tables:
            rows = await conn.fetch(f"SELECT * FROM {schema}.{table}")
            out[table] = sorted((tuple(r.values()) for r in rows), key=repr)
        return out
    finally:
        await conn.close()


__all__ = ["BOOTSTRAP", "DSN", "dump", "live_consumer", "produce", "records", "wait_for_position"]
