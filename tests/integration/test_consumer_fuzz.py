"""Hostile records fed onto every topic a KGO consumer reads, on the real broker and Postgres.

Every KGO consumer is an IdempotentConsumer (``ServiceContext.consumer``): the wallet's on the
missions topic, merchant's and transit's on the wallet topic, projections' (batched) on all
four. Here one consumer of each shape reads fresh copies of the four topics, each carrying a
valid record, then every hostile variant of it (kgo_runtime.testing.hostile_records), then
another valid record. Each hostile record lands in its topic's dead-letter topic with its
reason, the duplicate is dropped, both valid records apply, and the first one is unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from kgo_contracts.examples import examples
from kgo_contracts.topics import EVENT_TOPICS, dlq
from kgo_runtime.consumer import IdempotentConsumer
from kgo_runtime.envelope import Envelope, OutgoingRecord, encode, header_map
from kgo_runtime.metrics import Metrics
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import (
    create_topics,
    delete_topics,
    fresh_schema,
    hostile_records,
    read_topic,
    unique_name,
)

pytestmark = pytest.mark.integration

INFRA = InfraSettings()
BOOTSTRAP = INFRA.kafka_bootstrap
DSN = INFRA.database_url("projections")


def valid(topic: str, n: int) -> OutgoingRecord:
    event = [e for e in examples() if type(e).topic == topic][n]
    return encode(event, ce_id=str(uuid.uuid4()), source="/kgo/fuzz")


@pytest.fixture
async def topics() -> AsyncIterator[dict[str, str]]:
    """A fresh copy of each KGO event topic (one partition: the order is the story's)."""
    names = {topic: unique_name(f"t.fuzz.{topic.split('.')[1]}") for topic in EVENT_TOPICS}
    every = [*names.values(), *(dlq(n) for n in names.values())]
    await create_topics(BOOTSTRAP, every, partitions=1)
    yield names
    await delete_topics(BOOTSTRAP, every)


class Applied:
    """The handler: keeps each applied event's id and a digest of its payload."""

    def __init__(self, schema: str) -> None:
        self.table = f"{schema}.applied"

    async def one(self, conn: asyncpg.Connection, envelope: Envelope) -> None:
        await self.many(conn, [envelope])

    async def many(self, conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
        await conn.executemany(
            f"INSERT INTO {self.table} (ce_id, digest) VALUES ($1, $2)",
            [(e.id, digest(e.event.model_dump_json().encode())) for e in envelopes],
        )


def digest(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


async def produce(topic: str, records: list[OutgoingRecord]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, enable_idempotence=True, max_request_size=2 * 1024 * 1024
    )
    await producer.start()
    try:
        for r in records:
            await producer.send(topic, r.value, key=r.key, headers=r.headers)
        await producer.flush()
    finally:
        await producer.stop()


@pytest.mark.parametrize("batched", [False, True], ids=["per-record", "batched"])
async def test_hostile_records_are_dead_lettered_and_nothing_stalls(
    topics: dict[str, str], batched: bool
) -> None:
    stories: dict[str, tuple[OutgoingRecord, list, OutgoingRecord]] = {}
    for topic, name in topics.items():
        first, last = valid(topic, 0), valid(topic, 1)
        hostile = hostile_records(first)
        stories[name] = (first, hostile, last)
        await produce(name, [first, *(h.record for h in hostile), last])

    async with fresh_schema(DSN, "t_fuzz") as schema:
        conn = await asyncpg.connect(DSN)
        await conn.execute(f"CREATE TABLE {schema}.applied (ce_id text PRIMARY KEY, digest text)")
        applied = Applied(schema)
        consumer = IdempotentConsumer(
            unique_name("fuzz"), list(topics.values()),
            applied.many if batched else applied.one,
            kafka_bootstrap=BOOTSTRAP, db=DSN, schema=schema, metrics=Metrics("fuzz"),
            backoff=(0.05, 0.2), batched=batched,
        )  # fmt: skip
        running = asyncio.create_task(consumer.run())
        expected = {
            str(header_map(r.headers)["ce_id"]): digest(r.value)
            for first, _, last in stories.values()
            for r in (first, last)
        }
        try:
            rows: list[asyncpg.Record] = []
            for _ in range(600):  # the last valid record of every topic applied: no stall
                rows = await conn.fetch(f"SELECT ce_id, digest FROM {schema}.applied")
                if len(rows) >= len(expected):
                    break
                assert not running.done(), running
                await asyncio.sleep(0.05)
        finally:
            await consumer.stop()
            await asyncio.wait_for(running, 15)
            await conn.close()

    # Both valid records of each topic, once, and the first one as it was.
    assert {r["ce_id"]: r["digest"] for r in rows} == expected
    for name, (_, hostile, _) in stories.items():
        refused = [h for h in hostile if h.reason_code is not None]
        letters = await read_topic(BOOTSTRAP, dlq(name), count=len(refused))
        assert len(letters) == len(refused), name
        dlq_headers = [{n: v.decode() for n, v in r.headers if n.startswith("kgo_dlq_")}
                       for r in letters]  # fmt: skip
        codes = {int(h["kgo_dlq_source_offset"]): h for h in dlq_headers}
        for offset, h in enumerate(hostile, start=1):
            if h.reason_code is None:
                assert offset not in codes  # the duplicate: dropped, not applied again
                continue
            assert codes[offset]["kgo_dlq_reason_code"] == h.reason_code, h.name
            assert codes[offset]["kgo_dlq_reason"], h.name
