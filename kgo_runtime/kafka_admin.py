"""Small Kafka admin look-ups, and a whole-topic read, shared by tools and tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kgo_runtime.kafka_security import kafka_client_options


async def topic_partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``, from fresh metadata (a consumer only knows the topics it
    subscribed to). Raises LookupError if the topic does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_client_options())
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    found = [t for t in described if t.get("topic") == topic and t.get("error_code") == 0]
    if not found or not found[0]["partitions"]:
        raise LookupError(f"topic {topic} does not exist on {bootstrap}")
    return sorted(TopicPartition(topic, p["partition"]) for p in found[0]["partitions"])


async def read_to_end(bootstrap: str, topic: str) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` up to the end offsets seen at the start, in order within each
    partition. No consumer group is used, so nothing is committed anywhere."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
        auto_offset_reset="earliest", fetch_max_bytes=32 * 1024 * 1024,
        **kafka_client_options(),
    )  # fmt: skip
    await consumer.start()
    try:
        tps = await topic_partitions(bootstrap, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
