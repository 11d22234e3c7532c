"""Reading a whole topic from the beginning to its current end, as any subscriber would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from kgo_runtime.envelope import Envelope, EnvelopeError, decode
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.kafka_security import kafka_client_options


@dataclass(frozen=True)
class TopicRecord:
    partition: int
    offset: int
    envelope: Envelope | None
    error: EnvelopeError | None = None


async def read_topic(bootstrap: str, topic: str) -> AsyncIterator[TopicRecord]:
    """Every record of ``topic`` up to the end offsets seen at the start, decoded and checked
    against its contract; in order within each partition. No consumer group is used."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_bytes=32 * 1024 * 1024,
        **kafka_client_options(),
    )
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
                    if record.offset >= ends[tp]:
                        continue
                    try:
                        envelope = decode(record.headers, record.value)
                    except EnvelopeError as error:
                        yield TopicRecord(tp.partition, record.offset, None, error)
                    else:
                        yield TopicRecord(tp.partition, record.offset, envelope)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
