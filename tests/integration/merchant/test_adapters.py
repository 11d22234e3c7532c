"""The merchant's adapters on the real PostgreSQL and Kafka: till credentials, the guess
lockout across a restart, the book's statements and open operations, the relay's records,
and the wallet-topic consumer finishing a redemption a crash left open."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer

from kgo_contracts.wallet import HoldCaptured
from kgo_runtime.consumer import IdempotentConsumer
from kgo_runtime.envelope import encode, header_map
from kgo_runtime.relay import Relay
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, read_topic, unique_name
from services.merchant.adapters.contracts import to_contract
from services.merchant.adapters.postgres import PostgresGuessLimiter
from services.merchant.adapters.tills import TillRegistry
from services.merchant.application.redemptions import Redemptions
from services.merchant.domain.circulation import Reward, Settlement
from services.merchant.domain.redemption import Redemption
from services.merchant.domain.shops import Shop, ShopRules
from services.merchant.entrypoints.background import wallet_handler

from .conftest import FACTS, Merchant, shop_payee_id

pytestmark = pytest.mark.integration
BOOTSTRAP = InfraSettings().kafka_bootstrap


async def test_till_credentials_are_hashed_rotatable_revocable_and_bound_to_a_shop(
    merchant: Merchant,
):
    tills = TillRegistry(merchant.pool, merchant.clock, schema=merchant.schema)
    await tills.create_tables()
    shop = uuid4()
    till, new = await tills.issue(shop, "counter-1", key="k1")
    assert new and till.secret and till.secret.startswith("kgo_till_")
    stored = await merchant.pool.fetchval(
        f"SELECT secret_hash FROM {merchant.schema}.merchant_tills WHERE till_id = $1",
        till.till_id,
    )
    assert till.secret not in stored
    principal = await tills.authenticate(till.secret)
    assert principal is not None and principal.role == "payee"
    assert principal.subject == str(shop) and principal.token_id == till.till_id
    assert type(principal.token_id) is UUID  # not asyncpg's: it goes into stored events
    again, new = await tills.issue(shop, "counter-1", key="k1")
    assert not new and again.till_id == till.till_id and again.secret is None
    rotated = await tills.rotate(shop, till.till_id)
    assert rotated is not None and rotated.secret
    assert await tills.authenticate(till.secret) is None
    assert await tills.authenticate(rotated.secret) is not None
    assert not await tills.revoke(uuid4(), till.till_id)  # another shop's till: untouched
    assert await tills.revoke(shop, till.till_id)
    assert await tills.authenticate(rotated.secret) is None
    assert await tills.authenticate("kgo_someone_else") is None


async def test_the_guess_lockout_survives_a_restart(merchant: Merchant):
    till = uuid4()
    before = PostgresGuessLimiter(merchant.pool, merchant.clock, schema=merchant.schema)
    for _ in range(5):
        assert await before.retry_after(till) is None
        await before.wrong_code(till)
    after = PostgresGuessLimiter(merchant.pool, merchant.clock, schema=merchant.schema)
    wait = await after.retry_after(till)
    assert wait is not None and 0 < wait <= 900
    assert await after.retry_after(uuid4()) is None
    merchant.clock.advance(minutes=15, seconds=1)
    assert await after.retry_after(till) is None


def _story(m: Merchant) -> tuple[UUID, UUID, UUID]:
    """A shop with a redeemed, a voided, a declined and an open redemption, a reward and a
    settlement, saved through the domain on the real store."""
    at = m.clock.now()
    shop = Shop.enrol(uuid4(), FACTS, ShopRules(), payee=uuid4(), at=at)
    resident, open_id = uuid4(), uuid4()
    aggregates: list[object] = [shop]
    for coins, fate in ((25, "redeemed"), (20, "voided"), (10, "declined"), (5, "open")):
        r = Redemption.start(
            open_id if fate == "open" else uuid4(), shop_id=shop.id, till_id=uuid4(),
            payee=shop.payee_account_id, bill_satang=coins * 400, coins=coins,
            discount_satang=coins * 100, request_hash="h", payment_code="12345678", at=at,
        )  # fmt: skip
        if fate == "declined":
            r.decline("payment_code_used", "used", at=at)
        elif fate != "open":
            r.place_hold(uuid4(), resident, at=at)
            r.redeem(at=at)
            if fate == "voided":
                r.void(uuid4(), by="payee:till", at=at + timedelta(hours=1))
        aggregates.append(r)
    reward = Reward.start(
        uuid4(), shop_id=shop.id, payee_account_id=shop.payee_account_id, wallet_id=resident,
        coins=3, source="shop", programme=None, request_hash="h", occurred_at=at,
    )  # fmt: skip
    reward.rewarded(uuid4(), at=at)
    settlement = Settlement.start(
        uuid4(), shop_id=shop.id, payee_account_id=shop.payee_account_id, coins=12,
        baht_satang=1_200, payment_reference="KTB-1", programme="welcome", request_hash="h",
        occurred_at=at + timedelta(days=1),
    )  # fmt: skip
    settlement.settled(uuid4(), at=at + timedelta(days=1))
    m.application.save(*aggregates, reward, settlement)  # type: ignore[arg-type]
    return shop.id, resident, open_id


async def test_the_book_sums_daily_statements_and_lists_open_operations(merchant: Merchant):
    shop, _, open_id = _story(merchant)
    await merchant.book.catch_up()
    day1, day2 = await merchant.book.statements(shop, date(2022, 6, 10), date(2022, 6, 11))
    assert day1 | {"shop_id": None} == {
        "shop_id": None, "day": "2022-06-10", "redemptions": 2, "coins_accepted": 45,
        "discount_satang": 2_500, "bill_satang": 18_000, "voids": 1, "coins_voided": 20,
        "rewards": 1, "coins_issued": 3, "settlements": 0, "coins_settled": 0,
        "baht_settled_satang": 0, "declined": 1, "closing_balance": 45 - 20 - 3,
    }  # fmt: skip
    assert day2["settlements"] == 1 and day2["closing_balance"] == 22 - 12
    due = await merchant.book.open_operations(merchant.clock.now() + timedelta(seconds=1))
    assert due == [("redemption", open_id)]
    await merchant.book.catch_up()  # again: nothing counted twice
    assert (await merchant.book.statements(shop, date(2022, 6, 10), date(2022, 6, 10)))[0][
        "coins_accepted"
    ] == 45


async def test_the_relay_publishes_the_shops_facts_keyed_by_shop(merchant: Merchant):
    shop, _, _ = _story(merchant)
    topic = unique_name("it.merchant")
    await create_topics(BOOTSTRAP, [topic])
    try:
        relay = Relay(
            merchant.application, to_contract, name="merchant", source="/kgo/merchant",
            kafka_bootstrap=BOOTSTRAP, db=merchant.pool, schema=merchant.schema,
            topic_for=lambda _e: topic,
        )  # fmt: skip
        async with relay:
            await relay.drain()
        records = await read_topic(BOOTSTRAP, topic, count=7)
    finally:
        await delete_topics(BOOTSTRAP, [topic])
    types = sorted(header_map(r.headers)["ce_type"] for r in records)
    assert types == sorted([
        "kgo.merchant.ShopEnrolled.v1", "kgo.merchant.DiscountRedeemed.v1",
        "kgo.merchant.DiscountRedeemed.v1", "kgo.merchant.RedemptionVoided.v1",
        "kgo.merchant.RedemptionDeclined.v1", "kgo.merchant.CustomerRewarded.v1",
        "kgo.merchant.ShopSettled.v1",
    ])  # fmt: skip
    assert {r.key for r in records} == {str(shop).encode()}
    assert all(b"12345678" not in r.value and b"+66" not in r.value for r in records)


class _NoWallet:
    """The consumer path never calls the wallet: any call fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the wallet was called: {name}")


class _Container:
    def __init__(self, redemptions: Redemptions) -> None:
        self.redemptions = redemptions


async def test_a_hold_captured_on_the_wallet_topic_finishes_an_open_redemption(
    merchant: Merchant,
):
    shop, resident, open_id = _story(merchant)
    r = merchant.store.get_now(open_id, Redemption)
    assert r is not None
    hold = uuid4()
    r.place_hold(hold, resident, at=merchant.clock.now())
    merchant.application.save(r)
    redemptions = Redemptions(merchant.store, _NoWallet(), _NoWallet(), merchant.clock)  # type: ignore[arg-type]
    topic = unique_name("it.wallet")
    await create_topics(BOOTSTRAP, [topic])
    consumer = IdempotentConsumer(
        "merchant-wallet", [topic], wallet_handler(_Container(redemptions)),  # type: ignore[arg-type]
        kafka_bootstrap=BOOTSTRAP, db=merchant.pool, schema=merchant.schema,
        group_id=unique_name("it.group"),
    )  # fmt: skip
    captured = HoldCaptured(
        account_id=resident, account_kind="resident", account_version=3,
        movement_id=uuid4(), amount=5, available_after=0, held_after=0,
        counter_account_id=shop_payee_id(shop), counter_account_kind="shop", hold_id=hold,
        reference=str(open_id), occurred_at=merchant.clock.now(),
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    task = asyncio.create_task(consumer.run())
    try:
        for ce_id in (str(uuid.uuid4()), str(uuid.uuid4())):  # a republish with another id too
            record = encode(captured, ce_id=ce_id, source="/kgo/wallet", topic_for=lambda _e: topic)
            await producer.send_and_wait(topic, record.value, key=record.key,
                                         headers=record.headers)  # fmt: skip
        for _ in range(200):
            found = merchant.store.get_now(open_id, Redemption)
            if found is not None and found.status == "redeemed":
                break
            await asyncio.sleep(0.05)
        assert found is not None and found.status == "redeemed" and found.hold_id == hold
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 10)
        await producer.stop()
        await delete_topics(BOOTSTRAP, [topic])


def _kgo(schema: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MERCHANT_DATABASE_SCHEMA": schema}
    return subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", "merchant", *args], env=env, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


async def test_kgo_merchant_statement_and_till_create(merchant: Merchant):
    shop, _, _ = _story(merchant)
    done = await asyncio.to_thread(_kgo, merchant.schema, "statement", "--shop", str(shop),
                                   "--day", "2022-06-10", "--to", "2022-06-11")  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, day1, day2 = done.stdout.strip().splitlines()
    assert header.startswith("shop_id,day,redemptions,coins_accepted")
    assert day1.startswith(f"{shop},2022-06-10,2,45,") and day2.endswith(",10")
    till = await asyncio.to_thread(_kgo, merchant.schema, "till", "create", "--shop", str(shop))
    assert till.returncode == 0, till.stderr
    secret = till.stdout.strip().splitlines()[-1]
    tills = TillRegistry(merchant.pool, merchant.clock, schema=merchant.schema)
    principal = await tills.authenticate(secret)
    assert principal is not None and principal.subject == str(shop)
    unknown = await asyncio.to_thread(_kgo, merchant.schema, "statement", "--shop", str(uuid4()),
                                      "--day", "2022-06-10")  # fmt: skip
    assert unknown.returncode == 1
