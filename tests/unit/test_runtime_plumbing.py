"""Small pieces: eventsourcing settings from a database URL, dead-letter headers, partitions."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord
from aiokafka.partitioner import DefaultPartitioner

from kgo_runtime.deadletter import PermanentError, dead_letter_headers, dead_letter_topic
from kgo_runtime.envelope import header_map
from kgo_runtime.eventstore import eventstore_env
from kgo_runtime.postgres import schema_name
from kgo_runtime.producing import partition_for

pytestmark = pytest.mark.unit


def test_eventstore_env_from_a_database_url() -> None:
    env = eventstore_env("postgresql://kgo@127.0.0.1:15432/kgo_wallet", schema="t_1")
    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "kgo_wallet",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "15432",
        "POSTGRES_USER": "kgo",
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": "t_1",
        "APPLICATION_RECORDER_TOPIC": "kgo_runtime.recorder:LeanRecorder",
        "TRANSCODER_TOPIC": "kgo_runtime.transcoder:OrjsonTranscoder",
    }


def test_eventstore_env_with_password_and_extras() -> None:
    env = eventstore_env(
        "postgres://app:s%40cret@db/kgo", extra={"AGGREGATE_CACHE_MAXSIZE": "1000"}
    )
    assert env["POSTGRES_PASSWORD"] == "s@cret"
    assert env["POSTGRES_PORT"] == "5432"
    assert env["POSTGRES_SCHEMA"] == "public"
    assert env["AGGREGATE_CACHE_MAXSIZE"] == "1000"


@pytest.mark.parametrize("bad", ["mysql://x/y", "kgo_wallet"])
def test_eventstore_env_refuses_other_urls(bad: str) -> None:
    with pytest.raises(ValueError):
        eventstore_env(bad)


@pytest.mark.parametrize("bad", ["Public", "x; drop table", "1abc", ""])
def test_schema_names_are_plain_identifiers(bad: str) -> None:
    with pytest.raises(ValueError):
        schema_name(bad)


def test_dead_letter_keeps_the_record_and_says_why() -> None:
    record = ConsumerRecord(
        topic="kgo.missions.events",
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
        headers=(("ce_id", b"abc"),),
    )

    headers = dead_letter_headers(
        record, consumer="wallet-grants", reason_code="unknown_type", reason="x" * 5000
    )

    assert dead_letter_topic(record) == "kgo.missions.events.dlq"
    assert headers[0] == ("ce_id", b"abc")
    attrs = header_map(headers)
    assert attrs["kgo_dlq_reason_code"] == "unknown_type"
    assert len(attrs["kgo_dlq_reason"]) == 2000
    assert attrs["kgo_dlq_source_topic"] == "kgo.missions.events"
    assert attrs["kgo_dlq_source_partition"] == "2"
    assert attrs["kgo_dlq_source_offset"] == "41"
    assert attrs["kgo_dlq_consumer"] == "wallet-grants"


def test_permanent_error_carries_a_reason_code() -> None:
    error = PermanentError("budget closed", reason_code="budget_closed")
    assert (error.reason, error.reason_code, str(error)) == (
        "budget closed",
        "budget_closed",
        "budget closed",
    )


def test_keyed_batches_land_where_the_default_partitioner_puts_them() -> None:
    partitions = list(range(6))
    for i in range(200):
        key = f"wallet-{i}".encode()
        assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_outgoing_http_learns_its_event_loop_without_an_import_search() -> None:
    """httpx (httpcore) imports sniffio on every request to a service: installed, that is a
    lookup in sys.modules; missing, a failed search of sys.path each time (pyproject.toml)."""
    import asyncio
    import sys

    from httpcore._synchronization import current_async_library

    async def probe() -> str:
        return current_async_library()

    assert asyncio.run(probe()) == "asyncio"
    assert "sniffio" in sys.modules
