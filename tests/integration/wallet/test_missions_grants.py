"""The wallet as `kgo serve wallet` builds it (bootstrap.create_app, its lifespan run in this
process) on the real broker and Postgres, consuming a missions topic of its own.

Story: a resident finishes two missions. The first completion is on the topic twice (the same
record); between them lies a record that is not JSON. The municipal-activities budget can pay
one of two festival awards. Then the wallet stops, its consumer's inbox is lost (as if its
transactions had never committed, while the grants had), the first completion is republished
under a new ce_id, and the wallet starts again. In the end: one grant per completion, one
recorded refusal, one dead letter with its reason, all on the wallet topic as the fold sees it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from kgo_contracts.base import BANGKOK
from kgo_contracts.missions import MissionCompleted
from kgo_contracts.topics import dlq
from kgo_runtime.envelope import OutgoingRecord, decode, encode, header_map
from kgo_runtime.testing import create_topics, delete_topics, read_topic, unique_name
from services.wallet.application import commands as c
from services.wallet.bootstrap import create_app
from services.wallet.entrypoints.container import WalletContainer, business_now
from services.wallet.settings import WalletSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
async def settings(wallet_settings: WalletSettings) -> AsyncIterator[WalletSettings]:
    events, missions = unique_name("t.wallet"), unique_name("t.missions")
    topics = [events, missions, dlq(missions)]
    await create_topics(wallet_settings.kafka_bootstrap, topics, partitions=3)
    yield wallet_settings.model_copy(
        update={
            "events_topic": events,
            "missions_topic": missions,
            "missions_consumer": wallet_settings.database_schema,
        }
    )
    await delete_topics(wallet_settings.kafka_bootstrap, topics)


@asynccontextmanager
async def running(settings: WalletSettings) -> AsyncIterator[WalletContainer]:
    """The wallet process's app and components, until the block ends (SIGTERM-like stop)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await asyncio.wait_for(runtime.started.wait(), 60)
        yield app.state.wallet


async def run(wallet: WalletContainer, cls: type[c.Command], **fields: object) -> c.Outcome:
    outcome = await wallet.bus.submit(
        cls(idempotency_key=uuid4().hex, caller="admin", at=business_now(), **fields)
    )
    assert outcome.ok, outcome
    return outcome


async def register(wallet: WalletContainer) -> UUID:
    sealed = {"personal_data_digest": "d", "sealed_personal_data": "s", "key_id": "k"}
    outcome = await run(
        wallet, c.RegisterResident, national_id_index="n", phone_index="p", **sealed
    )
    return UUID(outcome.body["wallet_id"])


def completion(wallet_id: UUID, programme: str, reward: int) -> MissionCompleted:
    return MissionCompleted(
        completion_id=uuid4(), wallet_id=wallet_id, mission_id=uuid4(), programme=programme,
        period="2022-06", reward=reward, occurred_at=datetime(2022, 6, 10, 8, tzinfo=BANGKOK),
    )  # fmt: skip


def record(event: MissionCompleted) -> OutgoingRecord:
    return encode(event, ce_id=str(uuid4()), source="/kgo/missions")


async def produce(settings: WalletSettings, records: list[OutgoingRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for r in records:
            await producer.send(settings.missions_topic, r.value, key=r.key, headers=r.headers)
        await producer.flush()
    finally:
        await producer.stop()


async def consumed(settings: WalletSettings, count: int, timeout: float = 60) -> None:
    """Wait until the wallet's consumer has stored a position past ``count`` records."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                done = await conn.fetchval(
                    f"SELECT coalesce(sum(next_offset), 0) FROM "
                    f"{settings.database_schema}.consumer_positions "
                    "WHERE consumer = $1 AND topic = $2",
                    settings.missions_consumer,
                    settings.missions_topic,
                )
            except asyncpg.UndefinedTableError:
                done = 0
            if done >= count:
                return
            assert time.monotonic() < deadline, f"{done} of {count} records consumed"
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def forget_consumer(settings: WalletSettings) -> None:
    """As if every transaction of the consumer had been lost: inbox and positions empty."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        for table in ("consumer_inbox", "consumer_positions"):
            await conn.execute(f"DELETE FROM {settings.database_schema}.{table}")
    finally:
        await conn.close()


async def wallet_records(
    settings: WalletSettings, kinds: set[str], count: int
) -> list[MissionCompleted]:
    """The relayed grant records (``kinds``), once at least ``count`` are on the topic."""
    deadline = time.monotonic() + 60
    while True:
        records = await read_topic(settings.kafka_bootstrap, settings.events_topic, count=1)
        found = [
            decode(r.headers, r.value).event
            for r in records
            if header_map(r.headers)["ce_type"].split(".")[2] in kinds
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found  # type: ignore[return-value]
        await asyncio.sleep(0.2)


async def test_each_completion_is_granted_once_across_duplicates_dead_letters_and_a_restart(
    settings: WalletSettings,
) -> None:
    async with running(settings) as wallet:
        await run(wallet, c.MintGenesis)
        for programme, amount in (("welcome", 1_000), ("municipal-activities", 150)):
            await run(wallet, c.OpenBudget, programme=programme, label=programme)
            await run(wallet, c.AllocateBudget, programme=programme, amount=amount)
        resident = await register(wallet)
        signup, survey = completion(resident, "welcome", 100), completion(resident, "welcome", 50)
        award, second_award = (completion(resident, "municipal-activities", 100) for _ in "ab")
        first = record(signup)
        broken = replace(record(survey), value=b'{"reward": ')
        await produce(
            settings,
            [first, broken, first, record(survey), record(award), record(second_award)],
        )
        await consumed(settings, 6)
        assert (await asyncio.to_thread(wallet.ledger.account, resident)).available == 250

    dead = await read_topic(settings.kafka_bootstrap, dlq(settings.missions_topic), count=1)
    assert len(dead) == 1
    headers = header_map(dead[0].headers)
    assert headers["kgo_dlq_reason_code"] == "invalid_json"
    assert headers["kgo_dlq_source_topic"] == settings.missions_topic
    assert dead[0].value == broken.value

    # The consumer's transactions are lost, the grants are not; the signup is republished.
    await forget_consumer(settings)
    await produce(settings, [record(signup)])
    async with running(settings) as wallet:
        await consumed(settings, 7)
        assert (await asyncio.to_thread(wallet.ledger.account, resident)).available == 250

    granted = await wallet_records(settings, {"CoinsGranted"}, 3)
    refused = await wallet_records(settings, {"GrantRefused"}, 1)
    assert sorted((e.reference, e.amount) for e in granted) == sorted(
        (str(done.completion_id), done.reward) for done in (signup, survey, award)
    )
    assert [(e.reference, e.reason_code) for e in refused] == [  # type: ignore[attr-defined]
        (str(second_award.completion_id), "budget_exhausted")
    ]


async def test_a_completion_for_a_budget_nobody_opened_is_dead_lettered_and_the_next_granted(
    settings: WalletSettings,
) -> None:
    async with running(settings) as wallet:
        await run(wallet, c.MintGenesis)
        await run(wallet, c.OpenBudget, programme="welcome", label="welcome")
        await run(wallet, c.AllocateBudget, programme="welcome", amount=1_000)
        resident = await register(wallet)
        nowhere = record(completion(resident, "no-such-programme", 10))
        await produce(settings, [nowhere, record(completion(resident, "welcome", 20))])
        await consumed(settings, 2)
        assert (await asyncio.to_thread(wallet.ledger.account, resident)).available == 20
    [dead] = await read_topic(settings.kafka_bootstrap, dlq(settings.missions_topic), count=1)
    headers = header_map(dead.headers)
    assert headers["kgo_dlq_reason_code"] == "rejected"
    assert "account_not_found" in headers["kgo_dlq_reason"]
    assert "no-such-programme" in headers["kgo_dlq_reason"]
    assert headers["kgo_dlq_consumer"] == settings.missions_consumer
