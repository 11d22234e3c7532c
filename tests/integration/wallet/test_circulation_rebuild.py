"""Circulation on the real event store, relayed to Kafka: refunds, rewards (a shop's own and a
matching grant), settlements and covered shortfalls decided concurrently through the command
bus, then `kgo wallet rebuild` folds the topic alone and agrees with the ledger, supply whole.
The same rules as the in-memory tests, on the Postgres recorder."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from kgo_runtime.metrics import Metrics
from kgo_runtime.relay import Relay
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from services.wallet.adapters.contracts import to_contract
from services.wallet.application import commands as c
from services.wallet.application.circulation import CoverShortfall, Refund, Reward, Settle
from services.wallet.entrypoints.rebuild import rebuild

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(wallet_settings) -> AsyncIterator[str]:
    name = unique_name("t.wallet")
    await create_topics(wallet_settings.kafka_bootstrap, [name], partitions=6)
    yield name
    await delete_topics(wallet_settings.kafka_bootstrap, [name])


async def test_circulation_folds_from_kafka_to_the_ledgers_balances(
    driver, bus, wallet_settings, topic
) -> None:
    rng = random.Random(11)
    wallets, shop = driver.setup(residents=20, grant=200)
    bus_id = UUID(
        driver.run(c.OpenPayee, kind="operator", external_ref="bus", label="Bus").body["account_id"]
    )
    for programme, amount in (("shop-matching", 300), ("offline-loss", 200)):
        driver.run(c.OpenBudget, programme=programme, label=programme)
        driver.run(c.AllocateBudget, programme=programme, amount=amount)
    spends = [
        driver.cmd(c.Spend, wallet_id=w, payee_id=p, amount=60, reference="r")
        for w in wallets
        for p in (shop, bus_id)
    ]
    assert all(o.ok for o in await asyncio.gather(*map(bus.submit, spends)))

    def random_movement() -> c.Command:
        wallet, amount, roll = rng.choice(wallets), rng.randint(1, 40), rng.random()
        if roll < 0.25:
            return driver.cmd(Refund, payee_id=shop, wallet_id=wallet, amount=amount, reference="v")
        if roll < 0.4:
            return driver.cmd(Reward, payee_id=shop, wallet_id=wallet, amount=amount, reference="l")
        if roll < 0.55:
            return driver.cmd(
                Reward, programme="shop-matching", wallet_id=wallet, amount=amount, reference="m"
            )
        if roll < 0.8:
            return driver.cmd(
                Settle, payee_id=rng.choice([shop, bus_id]), amount=amount, programme="welcome",
                baht_satang=amount * 100, payment_reference="p",
            )  # fmt: skip
        return driver.cmd(
            CoverShortfall, programme="offline-loss", payee_id=bus_id, wallet_id=wallet,
            amount=amount, reference="t",
        )  # fmt: skip

    outcomes = await asyncio.gather(*(bus.submit(random_movement()) for _ in range(400)))
    codes = {o.body.get("code") for o in outcomes if not o.ok}
    assert codes <= {"insufficient_funds", "budget_exhausted"}, codes
    assert sum(o.ok for o in outcomes) > 100

    relay = Relay(
        driver.ledger, to_contract, name="wallet", source="/kgo/wallet",
        kafka_bootstrap=wallet_settings.kafka_bootstrap, db=wallet_settings.database_url,
        schema=wallet_settings.database_schema, metrics=Metrics("test"),
        topic_for=lambda _event: topic,
    )  # fmt: skip
    async with relay:
        await relay.drain()
    lines: list[str] = []
    differences = await rebuild(wallet_settings, topic=topic, wait_seconds=5, echo=lines.append)
    assert differences == [], "\n".join(lines)
    assert "minted 1000000, in accounts 1000000" in "\n".join(lines)
