"""Missions' consumer on the real broker and Postgres.

Story: 20 residents register (wallet topic), ride the bus (transit topic) and spend at shops
(merchant topic). The transit and merchant records are produced BEFORE the wallet's, some
taps arrive after later ones, and a third of all records are produced twice. Then the
consumer's own Postgres state (positions and inbox) is wiped, as if every consumer
transaction had been lost after its effect, and the whole history is consumed again.

Each time: exactly the completions an in-memory replay of the same facts finds, each once,
and each published once on the missions topic under one ce_id.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import psycopg
import pytest
from aiokafka import AIOKafkaProducer

from kgo_contracts.base import BANGKOK, ContractEvent
from kgo_contracts.merchant import DiscountRedeemed
from kgo_contracts.transit import FarePaid
from kgo_contracts.wallet import AccountOpened
from kgo_runtime.consumer import IdempotentConsumer
from kgo_runtime.envelope import OutgoingRecord, decode, encode, header_map
from kgo_runtime.relay import Relay
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, read_topic, unique_name
from services.missions.adapters.contracts import to_contract
from services.missions.adapters.event_store import open_missions
from services.missions.application import commands as c
from services.missions.application.service import MissionsApplication
from services.missions.entrypoints.consumer import batch_handler, fact_of, handler
from services.missions.settings import MissionsSettings

pytestmark = pytest.mark.integration

INFRA = InfraSettings()
BOOTSTRAP = INFRA.kafka_bootstrap
T0 = datetime(2022, 6, 9, 7, 0, tzinfo=BANGKOK)
RIDES = {
    "code": "three-rides", "title_th": "นั่งรถเมล์ 3 เที่ยว", "title_en": "Three rides a day",
    "reward": 120, "starts_at": T0.isoformat(), "period": "daily", "limit": 1,
    "campaign": "welcome", "programme": "welcome",
    "rule": {"kind": "count", "event": "fare_paid", "count": 3},
}  # fmt: skip
SHOPS = RIDES | {
    "code": "two-shops", "title_en": "Two shops a week", "reward": 90, "period": "weekly",
    "rule": {"kind": "distinct_shops", "shops": 2},
}  # fmt: skip


def story(residents: int = 20, seed: int = 7) -> tuple[list[ContractEvent], list[ContractEvent]]:
    """(wallet records, transit and merchant records) of the residents' three days."""
    rng = random.Random(seed)
    shops = [uuid4() for _ in range(3)]
    wallets = [uuid4() for _ in range(residents)]
    opened = [
        AccountOpened(account_id=w, account_kind="resident", account_version=1, occurred_at=T0)
        for w in wallets
    ]
    rest: list[ContractEvent] = []
    for w in wallets:
        for _ in range(rng.randint(0, 8)):
            at = T0 + timedelta(minutes=rng.randint(0, 3 * 24 * 60))
            rest.append(
                FarePaid(
                    trip_id=uuid4(),
                    wallet_id=w,
                    validator_id="v",
                    route_id="r8",
                    fare_product="regular",
                    coins=1,
                    baht_satang=0,
                    occurred_at=at,
                )
            )
        for _ in range(rng.randint(0, 3)):
            at = T0 + timedelta(minutes=rng.randint(0, 3 * 24 * 60))
            rest.append(DiscountRedeemed(redemption_id=uuid4(), shop_id=rng.choice(shops),
                                         wallet_id=w, hold_id=uuid4(), coins=5, discount_satang=500,
                                         bill_satang=2000, occurred_at=at))  # fmt: skip
    rng.shuffle(rest)  # taps and redemptions out of business-time order
    return opened, rest


@pytest.fixture
def settings() -> MissionsSettings:
    name = unique_name("t_missions")
    return MissionsSettings(
        database_schema=name,
        events_topic=f"{name}.missions", wallet_topic=f"{name}.wallet",
        merchant_topic=f"{name}.merchant", transit_topic=f"{name}.transit",
    )  # fmt: skip


@pytest.fixture
async def topics(settings: MissionsSettings) -> AsyncIterator[list[str]]:
    names = [settings.events_topic, settings.wallet_topic, settings.merchant_topic,
             settings.transit_topic]  # fmt: skip
    await create_topics(BOOTSTRAP, names + [f"{n}.dlq" for n in names], partitions=3)
    yield names
    await delete_topics(BOOTSTRAP, names + [f"{n}.dlq" for n in names])


@pytest.fixture
async def missions(
    settings: MissionsSettings, topics: list[str]
) -> AsyncIterator[MissionsApplication]:
    app = await asyncio.to_thread(open_missions, settings)
    for n, spec in enumerate((RIDES, SHOPS)):
        app.execute(c.PublishMission(idempotency_key=f"m{n}", caller="admin", at=T0, spec=spec))
    yield app
    app.close()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {settings.database_schema} CASCADE")


def records(settings: MissionsSettings, events: list[ContractEvent]) -> list[OutgoingRecord]:
    topic = {AccountOpened: settings.wallet_topic, FarePaid: settings.transit_topic,
             DiscountRedeemed: settings.merchant_topic}  # fmt: skip
    out = []
    for event in events:
        out.append(encode(event, ce_id=str(uuid4()), source="/kgo/test",
                          topic_for=lambda e: topic[type(e)]))  # fmt: skip
    return out


async def produce(batch: list[OutgoingRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True)
    await producer.start()
    try:
        for r in batch:
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
        await producer.flush()
    finally:
        await producer.stop()


def expected(settings: MissionsSettings, batch: list[OutgoingRecord]) -> set[tuple[UUID, int]]:
    """What an in-memory replay of the same facts completes: (completion id, reward asked)."""
    oracle = MissionsApplication()
    for n, spec in enumerate((RIDES, SHOPS)):
        oracle.execute(c.PublishMission(idempotency_key=f"m{n}", caller="admin", at=T0, spec=spec))
    wallets = set()
    for record in batch:
        found = fact_of(decode(record.headers, record.value))
        if found is not None:
            wallets.add(found[0])
            oracle.observe(*found)
    return {(d.completion_id, d.requested_reward) for w in wallets for d in oracle.completions(w)}


def recorded(missions: MissionsApplication) -> list[tuple[UUID, int]]:
    events = [missions.mapper.to_domain_event(n)
              for n in missions.recorder.select_notifications(start=1, limit=100_000)]  # fmt: skip
    return [(e.completion_id, e.requested_reward) for e in events if hasattr(e, "completion_id")]


async def consume_until(consumer: IdempotentConsumer, missions: MissionsApplication,
                        count: int, timeout: float = 60) -> None:  # fmt: skip
    task = asyncio.create_task(consumer.run())
    try:
        for _ in range(int(timeout / 0.1)):
            if len(recorded(missions)) >= count and await _caught_up(consumer):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{len(recorded(missions))} of {count} completions")
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 15)


async def _caught_up(consumer: IdempotentConsumer) -> bool:
    conn = await asyncpg.connect(INFRA.database_url("missions"))
    try:
        moved = await conn.fetchval(
            f"SELECT coalesce(sum(next_offset), 0) FROM {consumer._inbox._positions}"
            " WHERE consumer = $1", consumer.consumer_name,
        )  # fmt: skip
        return int(moved) >= consumer.total  # type: ignore[attr-defined]
    finally:
        await conn.close()


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "per-record"])
async def test_duplicates_reordering_and_lost_consumer_transactions_complete_once(
    settings: MissionsSettings, missions: MissionsApplication, batched: bool
) -> None:
    opened, rest = story()
    first = records(settings, rest)  # transit and merchant first, out of time order
    second = records(settings, opened)  # then the registrations
    twice = random.Random(3).sample(first + second, k=len(first + second) // 3)
    produced = first + second + twice
    await produce(produced)
    want = expected(settings, first + second)
    assert want, "the story should complete something"

    def new_consumer() -> IdempotentConsumer:
        consumer = IdempotentConsumer(
            "missions", [settings.wallet_topic, settings.merchant_topic, settings.transit_topic],
            batch_handler(missions) if batched else handler(missions), batched=batched,
            kafka_bootstrap=BOOTSTRAP, db=settings.database_url,
            schema=settings.database_schema, backoff=(0.05, 0.5),
        )  # fmt: skip
        consumer.total = len(produced)  # type: ignore[attr-defined]
        return consumer

    await consume_until(new_consumer(), missions, len(want))
    assert sorted(recorded(missions)) == sorted(want)

    # Every consumer transaction lost after its effect: positions and inbox wiped, all of
    # history delivered again past the inbox. The deterministic ids keep it at once.
    conn = await asyncpg.connect(settings.database_url)
    try:
        schema = settings.database_schema
        await conn.execute(
            f"DELETE FROM {schema}.consumer_positions; DELETE FROM {schema}.consumer_inbox"
        )
    finally:
        await conn.close()
    await consume_until(new_consumer(), missions, len(want))
    assert sorted(recorded(missions)) == sorted(want)

    # Published: one record per completion, under one ce_id, also after a second relay run.
    for _ in range(2):
        relay = Relay(
            missions, to_contract, name="missions", source="/kgo/missions",
            kafka_bootstrap=BOOTSTRAP, db=settings.database_url,
            schema=settings.database_schema, topic_for=lambda _e: settings.events_topic,
        )  # fmt: skip
        async with relay:
            await relay.drain()
    published = await read_topic(BOOTSTRAP, settings.events_topic, count=len(want))
    ids: dict[str, set[str]] = {}
    for record in published:
        envelope = decode(record.headers, record.value)
        completion = getattr(envelope.event, "completion_id", None)
        if completion is not None:
            ids.setdefault(str(completion), set()).add(header_map(record.headers)["ce_id"])
    assert sorted(ids) == sorted(str(cid) for cid, _ in want)
    assert all(len(ce_ids) == 1 for ce_ids in ids.values())
