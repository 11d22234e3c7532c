"""`kgo dlq show` on a real dead-letter topic, and `kgo dlq rewind` on a real consumer
position: the runbook's recovery of a full DLQ."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner, Result

from kgo_cli.main import app
from kgo_runtime.deadletter import send_dead_letter
from kgo_runtime.inbox import Inbox
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name

pytestmark = pytest.mark.integration

INFRA = InfraSettings()


class Record:
    def __init__(self, topic: str, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, 1, offset
        self.key, self.value = b"k", b"{}"
        self.headers = [("ce_type", b"kgo.missions.MissionCompleted.v1"), ("ce_id", b"e-1")]


async def kgo(*args: str) -> Result:
    """The command in a thread: it runs its own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


@pytest.fixture
async def source() -> AsyncIterator[str]:
    topic = unique_name("it.dlqcmd")
    await create_topics(INFRA.kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=2)
    yield topic
    await delete_topics(INFRA.kafka_bootstrap, [topic, f"{topic}.dlq"])


async def test_show_counts_dead_letters_by_consumer_and_reason(source: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=INFRA.kafka_bootstrap)
    await producer.start()
    try:
        for offset, code in ((4, "contract_violation"), (9, "contract_violation"), (12, "x")):
            await send_dead_letter(
                producer, Record(source, offset), "wallet-missions", reason_code=code,
                reason=f"bad record {offset}",
            )  # fmt: skip
    finally:
        await producer.stop()

    shown = await kgo("dlq", "show", source, "--last", "2")

    assert shown.exit_code == 0, shown.output
    assert f"{source}.dlq: 3 dead letters" in shown.output
    assert "2  consumer=wallet-missions  reason_code=contract_violation" in shown.output
    assert f"{source}/1@12" in shown.output and "bad record 12" in shown.output
    assert f"{source}/1@4" not in shown.output  # only the latest two are listed
    empty = await kgo("dlq", "show", unique_name("it.none"))
    assert "no dead letters" in empty.output


async def test_rewind_moves_a_stored_position_back_only(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = unique_name("it_dlq")
    monkeypatch.setenv("WALLET_DATABASE_SCHEMA", schema)
    pool = await asyncpg.create_pool(INFRA.database_url("wallet"), min_size=1, max_size=2)
    try:
        await pool.execute(f"CREATE SCHEMA {schema}")
        inbox = Inbox("wallet-missions", schema)
        await inbox.create_tables(pool)
        async with pool.acquire() as conn:
            await inbox.advance(conn, source, 2, 99)  # next offset 100

        args = ["dlq", "rewind", "--service", "wallet", "--consumer", "wallet-missions",
                "--topic", source, "--partition", "2", "--offset"]  # fmt: skip
        moved = await kgo(*args, "42")
        assert moved.exit_code == 0, moved.output
        assert "next offset 100 -> 42" in moved.output
        assert await inbox.positions(pool, [(source, 2)]) == {(source, 2): 42}

        forward = await kgo(*args, "77")  # never forward
        assert forward.exit_code == 1
        assert await inbox.positions(pool, [(source, 2)]) == {(source, 2): 42}
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()
