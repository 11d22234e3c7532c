"""The idempotent consumer on the real broker and Postgres: good records take effect exactly
once with the position, bad ones go to the dead-letter topic with their reason, and the
consumer never stalls on either.

Story: the missions topic carries completions the wallet must grant. Among them come a record
that is not JSON, one of a type nobody published, one whose reward is a string, a replay of
an earlier completion, one the handler refuses for good, and one that fails once for a
passing reason.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kgo_contracts.missions import MissionCompleted
from kgo_contracts.topics import dlq
from kgo_runtime.consumer import IdempotentConsumer
from kgo_runtime.deadletter import PermanentError
from kgo_runtime.envelope import Envelope, OutgoingRecord, encode, header_map
from kgo_runtime.metrics import Metrics
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, fresh_schema, read_topic, unique_name

pytestmark = pytest.mark.integration

INFRA = InfraSettings()
BOOTSTRAP = INFRA.kafka_bootstrap
DSN = INFRA.database_url("wallet")
BANGKOK = timezone(timedelta(hours=7))
WALLET = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


def good(reward: int, wallet: uuid.UUID = WALLET) -> OutgoingRecord:
    """A well-formed completion record, under a new ce_id."""
    event = MissionCompleted(
        completion_id=uuid.uuid4(),
        wallet_id=wallet,
        mission_id=uuid.uuid4(),
        programme="welcome",
        period="2022-06",
        reward=reward,
        occurred_at=datetime(2022, 6, 9, 8, 30, tzinfo=BANGKOK),
    )
    return encode(event, ce_id=str(uuid.uuid4()), source="/kgo/missions")


class Grants:
    """The handler under test: records a grant row per completion in the consumer's txn."""

    def __init__(self, schema: str, delay: float = 0.0) -> None:
        self.schema = schema
        self.delay = delay
        self.failed_once: set[str] = set()

    async def __call__(self, conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = envelope.event
        assert isinstance(event, MissionCompleted)
        if event.reward == 13:
            raise PermanentError("reward 13 is not a grant we make", "unlucky_reward")
        await asyncio.sleep(self.delay)
        await conn.execute(
            f"INSERT INTO {self.schema}.grants (ce_id, reward) VALUES ($1, $2)",
            envelope.id,
            event.reward,
        )
        if event.reward == 7 and envelope.id not in self.failed_once:
            self.failed_once.add(envelope.id)
            raise ConnectionError("wallet database hiccup")  # rolls back the insert above


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_schema(DSN, "t_consumer") as name:
        conn = await asyncpg.connect(DSN)
        try:
            await conn.execute(f"CREATE TABLE {name}.grants (ce_id text PRIMARY KEY, reward int)")
        finally:
            await conn.close()
        yield name


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    name = unique_name("t.consumer")
    await create_topics(BOOTSTRAP, [name, dlq(name)], partitions=1)
    yield name
    await delete_topics(BOOTSTRAP, [name, dlq(name)])


async def produce(topic: str, records: list[OutgoingRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True)
    await producer.start()
    try:
        for r in records:
            await producer.send(topic, r.value, key=r.key, headers=r.headers)
        await producer.flush()
    finally:
        await producer.stop()


def with_header(record: OutgoingRecord, name: str, value: bytes) -> OutgoingRecord:
    return replace(record, headers=[(n, value if n == name else v) for n, v in record.headers])


async def wait_for_rows(schema: str, count: int, timeout: float = 30.0) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(DSN)
    try:
        for _ in range(int(timeout / 0.05)):
            rows = await conn.fetch(f"SELECT ce_id, reward FROM {schema}.grants ORDER BY reward")
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{len(rows)} of {count} grants")
    finally:
        await conn.close()


async def stored_next_offset(schema: str, consumer: str, topic: str) -> int | None:
    conn = await asyncpg.connect(DSN)
    try:
        value: int | None = await conn.fetchval(
            f"SELECT next_offset FROM {schema}.consumer_positions"
            " WHERE consumer = $1 AND topic = $2 AND partition = 0",
            consumer,
            topic,
        )
        return value
    finally:
        await conn.close()


def new_consumer(
    name: str, topic: str, schema: str, metrics: Metrics, delay: float = 0.0
) -> IdempotentConsumer:
    return IdempotentConsumer(
        name,
        [topic],
        Grants(schema, delay),
        kafka_bootstrap=BOOTSTRAP,
        db=DSN,
        schema=schema,
        metrics=metrics,
        backoff=(0.05, 0.2),
    )


async def test_bad_records_are_dead_lettered_and_good_ones_apply_exactly_once(
    schema: str, topic: str
) -> None:
    first = good(10)
    not_json = replace(first, value=b'{"completion_id": ')
    amount_as_text = replace(
        first, value=json.dumps(json.loads(first.value) | {"reward": "20"}).encode()
    )
    await produce(
        topic,
        [
            first,  # offset 0
            not_json,  # 1
            with_header(good(11), "ce_type", b"kgo.missions.MissionForgotten.v1"),  # 2
            amount_as_text,  # 3
            good(20),  # 4
            first,  # 5: the relay republished offset 0 after a crash
            good(13),  # 6: the handler refuses it for good
            good(7),  # 7: fails once, then applies
        ],
    )
    name, metrics = unique_name("grants"), Metrics("wallet")
    rows = await consume_until(new_consumer(name, topic, schema, metrics), schema, topic, 8)

    assert [r["reward"] for r in rows] == [7, 10, 20]
    assert await stored_next_offset(schema, name, topic) == 8

    letters = await read_topic(BOOTSTRAP, dlq(topic), count=4)
    by_offset = {int(header_map(r.headers)["kgo_dlq_source_offset"]): r for r in letters}
    assert sorted(by_offset) == [1, 2, 3, 6]
    codes = {o: header_map(r.headers)["kgo_dlq_reason_code"] for o, r in by_offset.items()}
    assert codes == {
        1: "invalid_json",
        2: "unknown_type",
        3: "contract_violation",
        6: "unlucky_reward",
    }
    assert "reward" in header_map(by_offset[3].headers)["kgo_dlq_reason"]
    assert by_offset[1].value == not_json.value
    assert by_offset[1].key == str(WALLET).encode()
    attrs = header_map(by_offset[6].headers)
    assert attrs["kgo_dlq_source_topic"] == topic
    assert attrs["kgo_dlq_source_partition"] == "0"
    assert attrs["kgo_dlq_consumer"] == name
    assert attrs["ce_type"] == "kgo.missions.MissionCompleted.v1"  # original headers kept

    def count(metric: str, **labels: str) -> float:
        value = metrics.registry.get_sample_value(
            metric, {"consumer": name, "topic": topic, **labels}
        )
        return value or 0.0

    assert count("kgo_consumer_processed_total") == 3
    assert count("kgo_consumer_duplicates_total") == 1
    assert count("kgo_consumer_retries_total") == 1
    assert count("kgo_consumer_dead_lettered_total", reason_code="invalid_json") == 1
    assert count("kgo_consumer_lag_records", partition="0") == 0
    assert count("kgo_consumer_lag_seconds", partition="0") == 0

    # A new process of the same consumer resumes from Postgres: nothing is applied twice.
    await produce(topic, [good(30)])
    again = Metrics("wallet")
    restarted = new_consumer(name, topic, schema, again)
    running = asyncio.create_task(restarted.run())
    try:
        rows = await wait_for_rows(schema, 4)
    finally:
        await restarted.stop()
        await asyncio.wait_for(running, 15)
    assert [r["reward"] for r in rows] == [7, 10, 20, 30]
    assert (
        again.registry.get_sample_value(
            "kgo_consumer_processed_total", {"consumer": name, "topic": topic}
        )
        == 1
    )
    assert not again.registry.get_sample_value(
        "kgo_consumer_duplicates_total", {"consumer": name, "topic": topic}
    )
    assert await stored_next_offset(schema, name, topic) == 9


async def test_a_slow_positioning_never_seeks_behind_what_was_applied(
    schema: str, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first look-up of where a partition begins is slow (a loaded broker): the partition
    is positioned once, by the poll loop, and nothing is read again behind the stored position
    (a positioning that read early and landed late used to seek back to offset 0)."""
    original = AIOKafkaConsumer.beginning_offsets
    calls: list[int] = []

    async def slow_once(self: AIOKafkaConsumer, partitions: list[TopicPartition]) -> object:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(0.5)
        return await original(self, partitions)

    monkeypatch.setattr(AIOKafkaConsumer, "beginning_offsets", slow_once)
    await produce(topic, [good(10), good(20), good(7)])  # 7 fails once, then applies
    name, metrics = unique_name("grants"), Metrics("wallet")
    consumer = new_consumer(name, topic, schema, metrics)
    # linger 1 s: a late seek back would re-read offsets 0 and 1 by then
    rows = await consume_until(consumer, schema, topic, 3, linger=1.0)

    assert [r["reward"] for r in rows] == [7, 10, 20]
    labels = {"consumer": name, "topic": topic}
    assert metrics.registry.get_sample_value("kgo_consumer_processed_total", labels) == 3
    assert not metrics.registry.get_sample_value("kgo_consumer_duplicates_total", labels)
    assert metrics.registry.get_sample_value("kgo_consumer_retries_total", labels) == 1


async def test_processes_sharing_a_group_apply_each_event_once_across_rebalances(
    schema: str,
) -> None:
    topic = unique_name("t.consumer")
    await create_topics(BOOTSTRAP, [topic, dlq(topic)], partitions=3)
    conn = await asyncpg.connect(DSN)
    await conn.execute(f"ALTER TABLE {schema}.grants DROP CONSTRAINT grants_pkey")
    try:
        # Rewards the handler neither refuses nor stumbles on, to many wallets (all partitions).
        await produce(topic, [good(reward, uuid.uuid4()) for reward in range(100, 400)])

        name = unique_name("grants")
        first_metrics, second_metrics = Metrics("wallet"), Metrics("wallet")
        first = new_consumer(name, topic, schema, first_metrics, delay=0.01)
        second = new_consumer(name, topic, schema, second_metrics, delay=0.01)
        running_first = asyncio.create_task(first.run())
        await wait_for_rows(schema, 50)
        running_second = asyncio.create_task(second.run())  # the group rebalances
        await wait_for_rows(schema, 150)
        await first.stop()  # and rebalances again: the second takes every partition
        await asyncio.wait_for(running_first, 15)
        await wait_for_rows(schema, 300)
        await asyncio.sleep(0.5)  # anything applied twice would show up now
        await second.stop()
        await asyncio.wait_for(running_second, 15)

        rows = await conn.fetch(f"SELECT ce_id, count(*) AS n FROM {schema}.grants GROUP BY ce_id")
        assert len(rows) == 300
        assert all(row["n"] == 1 for row in rows)
        positions = await conn.fetchval(
            f"SELECT sum(next_offset) FROM {schema}.consumer_positions WHERE consumer = $1", name
        )
        assert positions == 300

        def processed(metrics: Metrics) -> float:
            labels = {"consumer": name, "topic": topic}
            return metrics.registry.get_sample_value("kgo_consumer_processed_total", labels) or 0

        assert processed(first_metrics) >= 50  # alone until the second joined
        assert processed(second_metrics) >= 100  # alone once the first left, at ~150
        assert processed(first_metrics) + processed(second_metrics) == 300
    finally:
        await conn.close()
        await delete_topics(BOOTSTRAP, [topic, dlq(topic)])


async def consume_until(
    consumer: IdempotentConsumer, schema: str, topic: str, offset: int, linger: float = 0.0
) -> list[asyncpg.Record]:
    """Runs ``consumer`` until three grants are stored and its position reached ``offset``
    (or 5 s went by), then ``linger`` seconds more; the stored grants."""
    running = asyncio.create_task(consumer.run())
    try:
        rows = await wait_for_rows(schema, 3)
        for _ in range(100):
            if await stored_next_offset(schema, consumer.consumer_name, topic) == offset:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(linger)
    finally:
        await consumer.stop()
        await asyncio.wait_for(running, 15)
    return rows
