"""A card redemption a crash left ``started`` (the wallet placed the hold, the merchant did not
save it) on the real PostgreSQL and Kafka: the wallet-topic consumer reads the ``CoinsHeld``
through the same dispatch as in production and completes it, once, however often the
record arrives; a card redemption with no hold is declined by the recoverer's resume."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer

from kgo_contracts.wallet import CoinsHeld
from kgo_runtime.consumer import IdempotentConsumer
from kgo_runtime.envelope import encode
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name
from services.merchant.application.redemptions import INTERRUPTED, Redemptions
from services.merchant.domain.authorisation import CARD
from services.merchant.domain.redemption import Redemption
from services.merchant.domain.shops import Shop, ShopRules
from services.merchant.entrypoints.background import wallet_handler

from .conftest import FACTS, Merchant

pytestmark = pytest.mark.integration
BOOTSTRAP = InfraSettings().kafka_bootstrap


class _CaptureOnly:
    """The wallet as the consumer path meets it: captures answered, anything else fails."""

    def __init__(self) -> None:
        self.captures: list[str] = []

    async def capture(self, *, wallet_id: UUID, hold_id: UUID, payee: UUID, amount: int,
                      key: str) -> None:  # fmt: skip
        self.captures.append(key)

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the wallet was called: {name}")


class _NoGuesses:
    async def retry_after(self, till_id: UUID) -> float | None:
        return None

    async def wrong_code(self, till_id: UUID) -> None:
        raise AssertionError("no guess here")


class _Container:
    def __init__(self, redemptions: Redemptions) -> None:
        self.redemptions = redemptions


def _started_card_redemption(m: Merchant) -> tuple[Shop, Redemption]:
    at = m.clock.now()
    shop = Shop.enrol(uuid4(), FACTS, ShopRules(), payee=uuid4(), at=at)
    r = Redemption.start(
        uuid4(), shop_id=shop.id, till_id=uuid4(), payee=shop.payee_account_id,
        bill_satang=12_000, coins=25, discount_satang=2_500, request_hash="h",
        payment_code="", at=at, instrument=CARD,
    )  # fmt: skip
    m.application.save(shop, r)
    return shop, r


async def test_coins_held_on_the_topic_completes_an_open_card_redemption(merchant: Merchant):
    shop, r = _started_card_redemption(merchant)
    wallet = _CaptureOnly()
    redemptions = Redemptions(merchant.store, wallet, _NoGuesses(), merchant.clock)  # type: ignore[arg-type]
    topic = unique_name("it.wallet")
    await create_topics(BOOTSTRAP, [topic])
    consumer = IdempotentConsumer(
        "merchant-wallet", [topic], wallet_handler(_Container(redemptions)),  # type: ignore[arg-type]
        kafka_bootstrap=BOOTSTRAP, db=merchant.pool, schema=merchant.schema,
        group_id=unique_name("it.group"),
    )  # fmt: skip
    resident, hold = uuid4(), uuid4()
    held = CoinsHeld(
        account_id=resident, account_kind="resident", account_version=2, movement_id=uuid4(),
        amount=25, available_after=75, held_after=25, hold_id=hold,
        payee_account_id=shop.payee_account_id, expires_at=merchant.clock.now(),
        reference=str(r.id), occurred_at=merchant.clock.now(),
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    task = asyncio.create_task(consumer.run())
    try:
        for ce_id in (str(uuid.uuid4()), str(uuid.uuid4())):  # a republish with another id too
            record = encode(held, ce_id=ce_id, source="/kgo/wallet", topic_for=lambda _e: topic)
            await producer.send_and_wait(topic, record.value, key=record.key,
                                         headers=record.headers)  # fmt: skip
        for _ in range(200):
            found = merchant.store.get_now(r.id, Redemption)
            if found is not None and found.status == "redeemed":
                break
            await asyncio.sleep(0.05)
        assert found is not None and found.status == "redeemed"
        assert found.hold_id == hold and found.wallet_id == resident
        await asyncio.sleep(0.3)  # the second record too
        assert wallet.captures == [f"merchant:{r.id}:capture"]
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 10)
        await producer.stop()
        await delete_topics(BOOTSTRAP, [topic])


async def test_the_recoverer_declines_a_started_card_redemption_and_the_book_closes_it(
    merchant: Merchant,
):
    _, r = _started_card_redemption(merchant)
    await merchant.book.catch_up()
    later = merchant.clock.now().replace(year=2030)
    assert ("redemption", r.id) in await merchant.book.open_operations(later)
    redemptions = Redemptions(merchant.store, _CaptureOnly(), _NoGuesses(), merchant.clock)  # type: ignore[arg-type]
    merchant.clock.advance(seconds=61)  # past MERCHANT_CARD_ABANDON_SECONDS
    answer = await redemptions.resume(r.id)
    assert answer is not None and answer.status == 409 and answer.body["code"] == INTERRUPTED
    await merchant.book.catch_up()
    assert ("redemption", r.id) not in await merchant.book.open_operations(later)
