"""Reading a whole topic from the beginning to its current end, as any subscriber would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from kgo_runtime.envelope import Envelope, EnvelopeError, decode
from kgo_runtime.kafka_admin import read_to_end


@dataclass(frozen=True)
class TopicRecord:
    partition: int
    offset: int
    envelope: Envelope | None
    error: EnvelopeError | None = None


async def read_topic(bootstrap: str, topic: str) -> AsyncIterator[TopicRecord]:
    """Every record of ``topic`` up to the end offsets seen at the start, decoded and checked
    against its contract; in order within each partition. No consumer group is used."""
    async for record in read_to_end(bootstrap, topic):
        try:
            envelope = decode(record.headers, record.value)
        except EnvelopeError as error:
            yield TopicRecord(record.partition, record.offset, None, error)
        else:
            yield TopicRecord(record.partition, record.offset, envelope)
