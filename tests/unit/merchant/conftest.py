"""The merchant's application on an in-memory event store, with fake ports and a manual
clock: what every merchant unit test drives."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from kgo_runtime.clock import BANGKOK, ManualClock
from services.merchant.application.answers import Answer
from services.merchant.application.circulation import Circulation
from services.merchant.application.redemptions import Policy, Redemptions, Till
from services.merchant.application.service import MerchantApplication
from services.merchant.application.shops import Shops
from services.merchant.application.store import Store
from services.merchant.domain.authorisation import CardAndPin, PaymentCode
from services.merchant.domain.districts import Category, SizeClass
from services.merchant.domain.shops import ShopFacts, ShopRules

from .fakes import FakeWallet, MemoryContacts, MemoryLimiter

T0 = datetime(2022, 6, 10, 8, 0, tzinfo=BANGKOK)
FACTS = ShopFacts(
    "Som Tam Bueng Kaen Nakhon", Category.FOOD_AND_DRINK, "Mueang Khon Kaen", 16.4164,
    102.8369, SizeClass.SMALL,
)  # fmt: skip


class Crashed(Exception):
    pass


class CrashAt:
    def __init__(self) -> None:
        self.armed: set[str] = set()

    def point(self, name: str) -> None:
        if name in self.armed:
            self.armed.discard(name)
            raise Crashed(name)


class Harness:
    def __init__(self, policy: Policy | None = None) -> None:
        self.clock = ManualClock(T0)
        self.application = MerchantApplication()
        self.store = Store(self.application)
        self.wallet = FakeWallet(self.clock)
        self.limiter = MemoryLimiter(self.clock)
        self.contacts = MemoryContacts()
        self.crash = CrashAt()
        self.shops = Shops(self.store, self.wallet, self.contacts, self.clock)
        self.redemptions = Redemptions(
            self.store, self.wallet, self.limiter, self.clock, policy, self.crash
        )
        self.circulation = Circulation(self.store, self.wallet, self.shops, self.clock)
        self.keys = itertools.count()

    def key(self) -> str:
        return f"k-{next(self.keys)}"

    async def enrol(self, rules: ShopRules | None = None) -> UUID:
        answer = await self.shops.enrol(
            "municipal_admin:admin", self.key(), FACTS, rules or ShopRules(),
            {"person": "Khun Somchai", "phone": "+66 81 234 5678"},
        )  # fmt: skip
        assert answer.status == 201, answer
        return UUID(answer.body["shop_id"])

    def till(self, shop: UUID) -> Till:
        return Till(shop, uuid4())

    async def pay(self, till: Till, code: str, bill: int = 12_000, coins: int = 25,
                  key: str | None = None) -> Answer:  # fmt: skip
        return await self.redemptions.redeem(
            till, key or self.key(), authorisation=PaymentCode(code), bill_satang=bill,
            coins=coins,
        )  # fmt: skip

    async def pay_by_card(self, till: Till, card: str, pin: str, bill: int = 12_000,
                          coins: int = 25, key: str | None = None) -> Answer:  # fmt: skip
        return await self.redemptions.redeem(
            till, key or self.key(), authorisation=CardAndPin(card, pin), bill_satang=bill,
            coins=coins,
        )  # fmt: skip

    def published(self) -> list[Any]:
        from services.merchant.adapters.contracts import to_contract

        events = [
            to_contract(self.application.mapper.to_domain_event(n))
            for n in self.application.recorder.select_notifications(1, 10_000)
        ]
        return [e for e in events if e is not None]


@pytest.fixture
def m() -> Harness:
    return Harness()
