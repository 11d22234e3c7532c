"""The idempotent consumer in batched mode (many records, one transaction) on the real broker
and Postgres: the same story as ``test_consumer.py`` — bad records dead-lettered with their
reason, good ones applied exactly once with the position, a transient failure retried — and
a batch moving the position once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import asyncpg
import pytest

from kgo_contracts.missions import MissionCompleted
from kgo_contracts.topics import dlq
from kgo_runtime.consumer import IdempotentConsumer
from kgo_runtime.deadletter import PermanentError
from kgo_runtime.envelope import Envelope, header_map
from kgo_runtime.metrics import Metrics
from kgo_runtime.testing import create_topics, delete_topics, fresh_schema, read_topic, unique_name

from .test_consumer import BOOTSTRAP, DSN, good, produce, stored_next_offset, with_header

pytestmark = pytest.mark.integration


class BatchGrants:
    """Records a grant row per completion, a whole batch per statement."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.failed_once: set[str] = set()
        self.batches: list[int] = []

    async def __call__(self, conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
        rows = []
        for envelope in envelopes:
            event = envelope.event
            assert isinstance(event, MissionCompleted)
            if event.reward == 13:
                raise PermanentError("reward 13 is not a grant we make", "unlucky_reward")
            rows.append((envelope.id, event.reward))
        await conn.executemany(
            f"INSERT INTO {self.schema}.grants (ce_id, reward) VALUES ($1, $2)", rows
        )
        for envelope in envelopes:
            reward = envelope.event.reward  # type: ignore[attr-defined]
            if reward == 7 and envelope.id not in self.failed_once:
                self.failed_once.add(envelope.id)
                raise ConnectionError("database hiccup")  # rolls the whole batch back
        self.batches.append(len(envelopes))


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema(DSN, "t_batched") as name:
        conn = await asyncpg.connect(DSN)
        try:
            await conn.execute(f"CREATE TABLE {name}.grants (ce_id text PRIMARY KEY, reward int)")
        finally:
            await conn.close()
        yield name


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    name = unique_name("t.batched")
    await create_topics(BOOTSTRAP, [name, dlq(name)], partitions=1)
    yield name
    await delete_topics(BOOTSTRAP, [name, dlq(name)])


def new_consumer(name: str, topic: str, schema: str, metrics: Metrics, handler: BatchGrants,
                 changes: list[int]) -> IdempotentConsumer:  # fmt: skip
    return IdempotentConsumer(
        name,
        [topic],
        handler,
        kafka_bootstrap=BOOTSTRAP,
        db=DSN,
        schema=schema,
        metrics=metrics,
        backoff=(0.05, 0.2),
        batched=True,
        after_commit=lambda: changes.append(1),
    )


async def rows_and_position(schema: str, name: str, topic: str, end: int) -> list[int]:
    conn = await asyncpg.connect(DSN)
    try:
        for _ in range(600):
            try:
                if await stored_next_offset(schema, name, topic) == end:
                    break
            except asyncpg.UndefinedTableError:
                pass  # the consumer has not created its tables yet
            await asyncio.sleep(0.05)
        return [r["reward"] for r in await conn.fetch(
            f"SELECT reward FROM {schema}.grants ORDER BY reward")]  # fmt: skip
    finally:
        await conn.close()


async def positions_at(conn: asyncpg.Connection, schema: str, name: str,
                       total: int) -> dict[int, int]:  # fmt: skip
    """Each partition's stored next offset, once they add up to ``total``."""
    for _ in range(600):
        with contextlib.suppress(asyncpg.UndefinedTableError):
            rows = await conn.fetch(
                f"SELECT partition, next_offset FROM {schema}.consumer_positions"
                " WHERE consumer = $1",
                name,
            )
            if sum(r["next_offset"] for r in rows) == total:
                return {r["partition"]: r["next_offset"] for r in rows}
        await asyncio.sleep(0.05)
    raise AssertionError(f"the consumer never got to {total} records")


async def granted(conn: asyncpg.Connection, schema: str) -> list[int]:
    return [r["reward"] for r in await conn.fetch(
        f"SELECT reward FROM {schema}.grants ORDER BY reward")]  # fmt: skip


async def test_batches_apply_once_and_only_poisoned_records_are_dead_lettered(
    schema: str, topic: str
) -> None:
    first = good(10)
    not_json = replace(first, value=b'{"completion_id": ')
    amount_as_text = replace(
        first, value=json.dumps(json.loads(first.value) | {"reward": "20"}).encode()
    )
    clean = [good(reward, uuid.uuid4()) for reward in range(100, 300)]
    await produce(
        topic,
        [
            first,  # 0
            not_json,  # 1
            with_header(good(11), "ce_type", b"kgo.missions.MissionForgotten.v1"),  # 2
            amount_as_text,  # 3
            good(20),  # 4
            first,  # 5: republished
            good(13),  # 6: refused for good
            good(7),  # 7: fails once
            *clean,  # 8..207
            first,  # 208: republished again, inside a clean batch
        ],
    )
    name = unique_name("grants")
    metrics, changes, handler = Metrics("projections"), [], BatchGrants(schema)
    consumer = new_consumer(name, topic, schema, metrics, handler, changes)
    running = asyncio.create_task(consumer.run())
    try:
        rewards = await rows_and_position(schema, name, topic, 209)
    finally:
        await consumer.stop()
        await asyncio.wait_for(running, 15)

    assert rewards == [7, 10, 20, *range(100, 300)]
    assert await stored_next_offset(schema, name, topic) == 209
    assert max(handler.batches) > 50  # many records per transaction
    assert changes

    letters = await read_topic(BOOTSTRAP, dlq(topic), count=4)
    codes = {
        int(header_map(r.headers)["kgo_dlq_source_offset"]): header_map(r.headers)[
            "kgo_dlq_reason_code"
        ]
        for r in letters
    }
    assert codes == {
        1: "invalid_json",
        2: "unknown_type",
        3: "contract_violation",
        6: "unlucky_reward",
    }
    labels = {"consumer": name, "topic": topic}
    assert metrics.registry.get_sample_value("kgo_consumer_processed_total", labels) == 203
    assert metrics.registry.get_sample_value("kgo_consumer_duplicates_total", labels) == 2

    # A restart resumes from Postgres; a record behind the position is not applied again.
    await produce(topic, [good(400), first])
    again, handler = Metrics("projections"), BatchGrants(schema)
    restarted = new_consumer(name, topic, schema, again, handler, [])
    running = asyncio.create_task(restarted.run())
    try:
        rewards = await rows_and_position(schema, name, topic, 211)
    finally:
        await restarted.stop()
        await asyncio.wait_for(running, 15)
    assert rewards[-1] == 400 and len(rewards) == 204
    assert again.registry.get_sample_value("kgo_consumer_processed_total", labels) == 1


async def test_partitions_side_by_side_apply_once_and_a_held_back_one_waits_alone(
    schema: str,
) -> None:
    """``partitions_at_once``: a poll's partitions in transactions side by side; a transient
    failure holds back only its own partition, and every record applies exactly once."""
    topic = unique_name("t.batched.wide")
    await create_topics(BOOTSTRAP, [topic, dlq(topic)], partitions=4)
    try:
        first = good(10, uuid.uuid4())
        records = [first, *(good(r, uuid.uuid4()) for r in range(100, 300)),
                   good(7, uuid.uuid4()), first]  # fmt: skip
        await produce(topic, records)
        name = unique_name("grants")
        metrics, handler = Metrics("projections"), BatchGrants(schema)
        consumer = IdempotentConsumer(
            name, [topic], handler, kafka_bootstrap=BOOTSTRAP, db=DSN, schema=schema,
            metrics=metrics, backoff=(0.05, 0.2), batched=True, partitions_at_once=3,
        )  # fmt: skip
        running = asyncio.create_task(consumer.run())
        conn = await asyncpg.connect(DSN)
        try:
            await positions_at(conn, schema, name, len(records))
            rewards = await granted(conn, schema)
        finally:
            await conn.close()
            await consumer.stop()
            await asyncio.wait_for(running, 15)
        assert rewards == [7, 10, *range(100, 300)]
        assert handler.failed_once  # the reward 7 partition was held back once
        labels = {"consumer": name, "topic": topic}
        assert metrics.registry.get_sample_value("kgo_consumer_processed_total", labels) == 202
        assert metrics.registry.get_sample_value("kgo_consumer_duplicates_total", labels) == 1
    finally:
        await delete_topics(BOOTSTRAP, [topic, dlq(topic)])


async def test_a_poll_across_partitions_applies_in_one_transaction_and_poison_falls_back(
    schema: str,
) -> None:
    """``across_partitions``: a poll's batches of several partitions go through the handler
    together, each partition's position stored with them; a poisoned, refused, failing or
    republished record makes that poll apply partition by partition, with the same outcome
    as ever: every good record once, the bad ones dead-lettered with their reason."""
    topic = unique_name("t.batched.across")
    await create_topics(BOOTSTRAP, [topic, dlq(topic)], partitions=4)
    try:
        first = good(10, uuid.uuid4())
        clean = [good(r, uuid.uuid4()) for r in range(100, 300)]
        await produce(topic, clean)  # a clean stretch first: polls applied as one
        name = unique_name("grants")
        metrics, handler = Metrics("projections"), BatchGrants(schema)
        consumer = IdempotentConsumer(
            name, [topic], handler, kafka_bootstrap=BOOTSTRAP, db=DSN, schema=schema,
            metrics=metrics, backoff=(0.05, 0.2), batched=True, across_partitions=True,
        )  # fmt: skip
        running = asyncio.create_task(consumer.run())
        conn = await asyncpg.connect(DSN)
        try:
            per_partition = await positions_at(conn, schema, name, len(clean))
            assert max(handler.batches) > max(per_partition.values())  # several partitions
            await produce(topic, [first, replace(first, value=b'{"completion_id": '),
                                  good(13, uuid.uuid4()), good(7, uuid.uuid4()), first,
                                  *(good(r, uuid.uuid4()) for r in range(300, 340))])  # fmt: skip
            await positions_at(conn, schema, name, len(clean) + 45)
            rewards = await granted(conn, schema)
        finally:
            await conn.close()
            await consumer.stop()
            await asyncio.wait_for(running, 15)
        assert rewards == [7, 10, *range(100, 340)]
        assert handler.failed_once
        letters = await read_topic(BOOTSTRAP, dlq(topic), count=2)
        assert sorted(header_map(r.headers)["kgo_dlq_reason_code"] for r in letters) == [
            "invalid_json", "unlucky_reward",
        ]  # fmt: skip
        labels = {"consumer": name, "topic": topic}
        assert metrics.registry.get_sample_value("kgo_consumer_processed_total", labels) == 242
        assert metrics.registry.get_sample_value("kgo_consumer_duplicates_total", labels) == 1
    finally:
        await delete_topics(BOOTSTRAP, [topic, dlq(topic)])
