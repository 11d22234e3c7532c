"""A ``ce_id`` reused for other content is dead-lettered ``ce_id_reused`` (real broker and
Postgres), in both consumer modes; a true re-delivery, even with its JSON keys in another
order, stays a silent duplicate; an inbox made before the content digest existed gets its
column, and its rows (no digest) count as the same content.

Story: completion A applies; then A again under its id but with reward 99 (reused); then A
re-delivered with its fields reordered (a duplicate); then L, whose id the old inbox already
held without a digest (a duplicate); then B, which applies.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from kgo_contracts.topics import dlq
from kgo_runtime.consumer import IdempotentConsumer
from kgo_runtime.envelope import header_map
from kgo_runtime.metrics import Metrics
from kgo_runtime.testing import read_topic, unique_name

from .test_consumer import BOOTSTRAP, DSN, Grants, good, produce, schema, stored_next_offset, topic
from .test_consumer_batched import BatchGrants, rows_and_position

pytestmark = pytest.mark.integration

__all__ = ["schema", "topic"]  # the fixtures


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batched"])
async def test_a_reused_ce_id_is_dead_lettered_and_a_redelivery_is_not(
    schema: str, topic: str, batched: bool
) -> None:
    name = unique_name("grants")
    a, legacy, b = good(10), good(40), good(50)
    payload = json.loads(a.value)
    reused = replace(a, value=json.dumps(payload | {"reward": 99}).encode())
    reordered = replace(a, value=json.dumps(dict(reversed(payload.items()))).encode())
    assert reordered.value != a.value
    conn = await asyncpg.connect(DSN)
    try:  # an inbox as it was before the digest column, holding L's id
        await conn.execute(
            f"CREATE TABLE {schema}.consumer_inbox (consumer text NOT NULL, ce_id text NOT NULL,"
            " received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, ce_id))"
        )
        await conn.execute(
            f"INSERT INTO {schema}.consumer_inbox (consumer, ce_id) VALUES ($1, $2)",
            name,
            header_map(legacy.headers)["ce_id"],
        )
    finally:
        await conn.close()
    await produce(topic, [a, reused, reordered, legacy, b])
    metrics = Metrics("wallet")
    handler: Any = BatchGrants(schema) if batched else Grants(schema)
    consumer = IdempotentConsumer(
        name, [topic], handler, kafka_bootstrap=BOOTSTRAP, db=DSN, schema=schema,
        metrics=metrics, backoff=(0.05, 0.2), batched=batched,
    )  # fmt: skip
    running = asyncio.create_task(consumer.run())
    try:
        rewards = await rows_and_position(schema, name, topic, end=5)
        letters = await read_topic(BOOTSTRAP, dlq(topic), count=1)
    finally:
        await consumer.stop()
        await asyncio.wait_for(running, 15)

    assert rewards == [10, 50]
    assert await stored_next_offset(schema, name, topic) == 5
    [letter] = letters
    attrs = header_map(letter.headers)
    assert attrs["kgo_dlq_reason_code"] == "ce_id_reused"
    assert attrs["kgo_dlq_source_offset"] == "1"
    assert "already applied with other content" in attrs["kgo_dlq_reason"]
    assert letter.value == reused.value

    def count(metric: str, **labels: str) -> float:
        labels = {"consumer": name, "topic": topic, **labels}
        return metrics.registry.get_sample_value(metric, labels) or 0.0

    assert count("kgo_consumer_dead_lettered_total", reason_code="ce_id_reused") == 1
    assert count("kgo_consumer_duplicates_total") == 2
    assert count("kgo_consumer_processed_total") == 2
