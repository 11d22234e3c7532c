"""Small Kafka admin look-ups shared by tools and tests."""

from __future__ import annotations

from aiokafka import TopicPartition
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
