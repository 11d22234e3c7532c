"""Dead letters: records a consumer can never process, moved to ``<topic>.dlq`` with the reason.

The dead letter keeps the original key, value and headers and adds ``kgo_dlq_*`` headers, so
an operator can read why, fix the cause and replay it onto the source topic.
"""

from __future__ import annotations

from typing import Protocol

from aiokafka import AIOKafkaProducer

from kgo_contracts.topics import dlq

REASON_LIMIT = 2000
#: A dead letter must fit where its record came from: a value (or header) bigger than this is
#: cut to this size, and ``kgo_dlq_truncated`` gives the original size of the value.
VALUE_LIMIT = 256 * 1024
HEADER_LIMIT = 4096


class PermanentError(Exception):
    """Raised by a handler for a record that will never succeed however often it is retried
    (it breaks a rule of the receiving service); the record is dead-lettered."""

    def __init__(self, reason: str, reason_code: str = "rejected") -> None:
        super().__init__(reason)
        self.reason = reason
        self.reason_code = reason_code


class RecordLike(Protocol):
    """The parts of an aiokafka ``ConsumerRecord`` a dead letter copies."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> tuple[tuple[str, bytes], ...] | list[tuple[str, bytes]]: ...


def dead_letter_topic(record: RecordLike) -> str:
    return dlq(record.topic)


def dead_letter_headers(
    record: RecordLike, *, consumer: str, reason_code: str, reason: str
) -> list[tuple[str, bytes]]:
    """The original headers (each cut to ``HEADER_LIMIT`` bytes) plus why and where from."""
    return [
        *((name, value[:HEADER_LIMIT]) for name, value in record.headers if value is not None),
        ("kgo_dlq_reason", reason[:REASON_LIMIT].encode()),
        ("kgo_dlq_reason_code", reason_code.encode()),
        ("kgo_dlq_source_topic", record.topic.encode()),
        ("kgo_dlq_source_partition", str(record.partition).encode()),
        ("kgo_dlq_source_offset", str(record.offset).encode()),
        ("kgo_dlq_consumer", consumer.encode()),
    ]


async def send_dead_letter(
    producer: AIOKafkaProducer, record: RecordLike, consumer: str, *, reason_code: str, reason: str
) -> None:
    """Produce the dead letter of ``record`` and wait until the broker acknowledged it."""
    headers = dead_letter_headers(record, consumer=consumer, reason_code=reason_code, reason=reason)
    value = record.value
    if value is not None and len(value) > VALUE_LIMIT:
        headers.append(("kgo_dlq_truncated", str(len(value)).encode()))
        value = value[:VALUE_LIMIT]
    key = record.key[:HEADER_LIMIT] if record.key is not None else None
    delivery = await producer.send(dead_letter_topic(record), value, key=key, headers=headers)
    await delivery
