"""Helpers for integration tests on the shared Kafka broker and Postgres: every test run gets
its own topics and its own schema, so tests can run beside each other and beside services.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, DomainEventProtocol, event

from kgo_contracts.base import ContractEvent
from kgo_contracts.missions import MissionCompleted
from kgo_runtime.envelope import OutgoingRecord
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.postgres import schema_name


def unique_name(prefix: str) -> str:
    """``prefix`` plus a short random suffix, valid as a topic, group or schema name."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def create_topics(
    bootstrap: str, names: Sequence[str], *, partitions: int = 3, timeout: float = 15.0
) -> None:
    """Create ``names`` and wait until every partition has a leader."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
        )
        deadline = time.monotonic() + timeout
        while True:
            described = await admin.describe_topics(list(names))
            led = [
                t
                for t in described
                if t["error_code"] == 0
                and len(t["partitions"]) == partitions
                and all(p["leader"] >= 0 for p in t["partitions"])
            ]
            if len(led) == len(names):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {names} have no leaders after {timeout}s")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_schema(database_url: str, prefix: str = "t") -> AsyncIterator[str]:
    """A new empty schema in ``database_url``, dropped with everything in it afterwards."""
    schema = schema_name(unique_name(prefix))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        yield schema
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


async def read_topic(
    bootstrap: str, topic: str, *, count: int, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """At least ``count`` records of ``topic`` from the beginning (all partitions, no group),
    in partition then offset order. Raises TimeoutError if fewer arrive in time."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(records) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: {len(records)} of {count} records")
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
        # Whatever else is already there (duplicates, say) belongs to the answer too.
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                for part in (await consumer.getmany(tp, timeout_ms=200)).values():
                    records.extend(part)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


# --- a test-only aggregate for relay tests -----------------------------------------------------

BANGKOK = timezone(timedelta(hours=7))


class Resident(Aggregate):
    """Test-only: a resident whose mission completions are published as MissionCompleted."""

    @event("Registered")
    def __init__(self) -> None:
        self.completed = 0

    @event("MissionCompleted")
    def complete(self, mission_id: uuid.UUID, reward: int, occurred_at: datetime) -> None:
        self.completed += 1


def resident_to_contract(stored: DomainEventProtocol[Any]) -> ContractEvent | None:
    """``Resident``'s relay mapping: completions are published, registrations stay internal."""
    if not isinstance(stored, Resident.MissionCompleted):  # type: ignore[attr-defined]
        return None
    return MissionCompleted(
        completion_id=uuid.uuid5(stored.originator_id, str(stored.originator_version)),
        wallet_id=stored.originator_id,
        mission_id=stored.mission_id,
        programme="welcome",
        period="2022-06",
        reward=stored.reward,
        occurred_at=stored.occurred_at,
    )


def store_residents(
    app: Application[uuid.UUID], residents: int, completions: int, *, first_reward: int = 1
) -> None:
    """Save ``residents`` residents with ``completions`` completions each."""
    for _ in range(residents):
        resident = Resident()
        for i in range(completions):
            at = datetime(2022, 6, 9, 8, i % 60, tzinfo=BANGKOK)
            resident.complete(uuid.uuid4(), first_reward + i, at)
        app.save(resident)


# --- hostile records: what a consumer must dead-letter without stalling ----------------------


@dataclass(frozen=True)
class Hostile:
    """A record derived from a valid one, and the reason code it must be dead-lettered with
    (None: it is a duplicate of the valid one and must be dropped, never applied)."""

    name: str
    reason_code: str | None
    record: OutgoingRecord


def _headers(record: OutgoingRecord, **changes: bytes | None) -> list[tuple[str, bytes]]:
    """The record's headers with some replaced (None: removed)."""
    kept = [(n, v) for n, v in record.headers if n not in changes]
    return kept + [(n, v) for n, v in changes.items() if v is not None]


def hostile_records(valid: OutgoingRecord) -> list[Hostile]:
    """Malformed, oversized and hostile variants of ``valid`` (each under a new ``ce_id``
    unless it is about the id)."""
    payload = orjson.loads(valid.value)
    key_field = next(k for k, v in payload.items() if str(v).encode() == valid.key)

    def variant(value: bytes | None = None, key: bytes | None = None, **headers: bytes | None):
        fresh = {"ce_id": str(uuid.uuid4()).encode(), **headers}
        return replace(valid, value=valid.value if value is None else value,
                       key=valid.key if key is None else key,
                       headers=_headers(valid, **fresh))  # fmt: skip

    def json_with(**fields: Any) -> bytes:
        return orjson.dumps({**payload, **fields})

    return [
        Hostile("not JSON", "invalid_json", variant(b"{not json")),
        Hostile("empty value", "invalid_json", variant(b"")),
        Hostile("JSON, not an object", "contract_violation", variant(b"[1, 2, 3]")),
        Hostile("old specversion", "bad_specversion", variant(ce_specversion=b"0.3")),
        Hostile("no specversion", "bad_specversion", variant(ce_specversion=None)),
        Hostile("no ce_type", "missing_header", variant(ce_type=None)),
        Hostile("unknown type", "unknown_type", variant(ce_type=b"kgo.nobody.Thing.v1")),
        Hostile("not JSON content", "bad_content_type", variant(**{"content-type": b"text/csv"})),
        Hostile("ce_time without offset", "bad_header", variant(ce_time=b"2022-06-10T08:00:00")),
        Hostile("header not UTF-8", "bad_header", variant(ce_source=b"\xff\xfe")),
        Hostile("NUL in ce_id", "bad_header", variant(ce_id=b"abc\x00def")),
        Hostile("huge ce_id", "bad_header", variant(ce_id=b"x" * 10_000)),
        Hostile(
            "schema-invalid field",
            "contract_violation",
            variant(json_with(**{key_field: {"not": "an id"}})),
        ),
        Hostile("NUL in a string", "null_character", variant(json_with(note="a\u0000b"))),
        Hostile("oversized", "too_large", variant(json_with(padding="x" * 100_000))),
        Hostile("near the broker's limit", "too_large", variant(json_with(padding="y" * 700_000))),
        Hostile("wrong key", "wrong_key", variant(key=b"someone-else")),
        Hostile(
            "duplicate id, other payload", None, replace(valid, value=json_with(padding="changed"))
        ),
    ]
