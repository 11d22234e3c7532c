"""`kgo wallet rebuild` on the real broker and Postgres: after a few thousand random
operations, relayed to Kafka, the fold of the topic alone matches the ledger exactly; a
record that was never in the ledger is reported."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer

from kgo_contracts.wallet import CoinsGranted
from kgo_runtime.envelope import encode
from kgo_runtime.metrics import Metrics
from kgo_runtime.relay import Relay
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from services.wallet.adapters.contracts import to_contract
from services.wallet.application import commands as c
from services.wallet.entrypoints.container import business_now
from services.wallet.entrypoints.rebuild import rebuild

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(wallet_settings) -> AsyncIterator[str]:
    name = unique_name("t.wallet")
    await create_topics(wallet_settings.kafka_bootstrap, [name], partitions=6)
    yield name
    await delete_topics(wallet_settings.kafka_bootstrap, [name])


def random_operations(driver, bus_submit, count: int, seed: int = 7):
    """Grants, spends, holds, captures, releases and expiries in random order."""
    rng = random.Random(seed)
    wallets, shop = driver.setup(residents=40, grant=300)
    bus_shop = UUID(
        driver.run(c.OpenPayee, kind="operator", external_ref="citybus", label="City Bus").body[
            "account_id"
        ]
    )
    holds: list[tuple[UUID, UUID]] = []

    async def run() -> int:
        done = 0
        for start in range(0, count, 64):
            batch = []
            for _ in range(min(64, count - start)):
                wallet, roll = rng.choice(wallets), rng.random()
                if roll >= 0.75 and not holds:
                    roll = 0.5
                payee = rng.choice([shop, bus_shop])
                if roll < 0.25:
                    batch.append(
                        driver.cmd(
                            c.Grant,
                            programme="welcome",
                            wallet_id=wallet,
                            amount=rng.randint(1, 100),
                            reason="mission",
                            reference="m",
                        )
                    )
                elif roll < 0.55:
                    batch.append(
                        driver.cmd(
                            c.Spend,
                            caller="shop",
                            wallet_id=wallet,
                            payee_id=payee,
                            amount=rng.randint(1, 60),
                            reference="r",
                        )
                    )
                elif roll < 0.75:
                    batch.append(
                        driver.cmd(
                            c.PlaceHold,
                            caller="shop",
                            wallet_id=wallet,
                            payee_id=payee,
                            amount=rng.randint(1, 60),
                            reference="h",
                            ttl_seconds=30,
                        )
                    )
                elif holds:
                    w, h = holds.pop(rng.randrange(len(holds)))
                    kind = rng.choice([c.CaptureHold, c.ReleaseHold, c.ExpireHold])
                    extra = {"payee_id": None} if kind is c.ReleaseHold else {}
                    at = business_now() + (
                        timedelta(minutes=1) if kind is c.ExpireHold else timedelta()
                    )
                    if kind is c.CaptureHold:
                        extra = {"payee_id": shop, "amount": None}
                    batch.append(driver.cmd(kind, at=at, wallet_id=w, hold_id=h, **extra))
            outcomes = await asyncio.gather(*(bus_submit(cmd) for cmd in batch))
            for cmd, out in zip(batch, outcomes, strict=True):
                done += 1
                if isinstance(cmd, c.PlaceHold) and out.status == 201:
                    holds.append((cmd.wallet_id, UUID(out.body["hold_id"])))
        return done

    return run


async def test_rebuild_from_kafka_matches_the_ledger(driver, bus, wallet_settings, topic):
    assert await random_operations(driver, bus.submit, 3_000)() == 3_000
    relay = Relay(
        driver.ledger,
        to_contract,
        name="wallet",
        source="/kgo/wallet",
        kafka_bootstrap=wallet_settings.kafka_bootstrap,
        db=wallet_settings.database_url,
        schema=wallet_settings.database_schema,
        metrics=Metrics("test"),
        topic_for=lambda _event: topic,
    )
    async with relay:
        await relay.drain()
    lines: list[str] = []
    differences = await rebuild(wallet_settings, topic=topic, wait_seconds=5, echo=lines.append)
    assert differences == [], "\n".join(lines)
    assert "minted 1000000, in accounts 1000000" in "\n".join(lines)

    # A record nobody stored in the ledger: the rebuild must say so.
    intruder = CoinsGranted(
        account_id=uuid4(),
        account_kind="resident",
        account_version=2,
        occurred_at=business_now(),
        movement_id=uuid4(),
        amount=5,
        available_after=5,
        held_after=0,
        counter_account_id=uuid4(),
        counter_account_kind="budget",
        programme="welcome",
        reason="forged",
        reference="x",
    )
    record = encode(intruder, ce_id=str(uuid4()), source="/kgo/elsewhere")
    producer = AIOKafkaProducer(bootstrap_servers=wallet_settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()
    differences = await rebuild(wallet_settings, topic=topic, wait_seconds=1, echo=lines.append)
    problems = "\n".join(str(d) for d in differences)
    assert str(intruder.account_id) in problems and "supply" in problems
