"""The Shop aggregate: a participating shop, its public facts, its rules, its status.

A shop's contact person and phone are personal data: they never enter an event (the
contacts adapter keeps them in a table of their own). Rules are checked before any event is
triggered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .districts import DISTRICTS, LATITUDE_RANGE, LONGITUDE_RANGE, Category, SizeClass
from .errors import AlreadyInState, InvalidShop, ShopNotActive

ACTIVE, SUSPENDED = "active", "suspended"


@dataclass(frozen=True)
class ShopRules:
    """How a shop accepts coins: the value of one coin, the largest share of a bill coins
    may pay, an optional cap per bill, and the matching budget its rewards may draw on."""

    coin_value_satang: int = 100
    max_coin_share_percent: int = 50
    cap_per_bill_coins: int | None = None
    matching_programme: str | None = None

    def __post_init__(self) -> None:
        if self.coin_value_satang <= 0:
            raise InvalidShop("a coin is worth at least one satang")
        if not 1 <= self.max_coin_share_percent <= 100:
            raise InvalidShop("the coin share of a bill is between 1 and 100 percent")
        if self.cap_per_bill_coins is not None and self.cap_per_bill_coins <= 0:
            raise InvalidShop("a cap per bill is a positive number of coins")

    def as_fields(self) -> dict[str, Any]:
        return {
            "coin_value_satang": self.coin_value_satang,
            "max_coin_share_percent": self.max_coin_share_percent,
            "cap_per_bill_coins": self.cap_per_bill_coins,
            "matching_programme": self.matching_programme,
        }


@dataclass(frozen=True)
class ShopFacts:
    """What anyone may know about a shop."""

    name: str
    category: Category
    district: str
    latitude: float
    longitude: float
    size_class: SizeClass

    def __post_init__(self) -> None:
        if self.district not in DISTRICTS:
            raise InvalidShop(f"{self.district!r} is not a district of Khon Kaen")
        if not (
            LATITUDE_RANGE[0] <= self.latitude <= LATITUDE_RANGE[1]
            and LONGITUDE_RANGE[0] <= self.longitude <= LONGITUDE_RANGE[1]
        ):
            raise InvalidShop("the location is not in Khon Kaen province")


class Shop(Aggregate):
    TOPIC = "kgo.merchant.Shop"

    class Created(Aggregate.Created):
        TOPIC = "kgo.merchant.Shop.Created"

    class Enrolled(Aggregate.Created):
        TOPIC = "kgo.merchant.Shop.Enrolled"
        name: str
        category: str
        district: str
        latitude: float
        longitude: float
        size_class: str
        payee_account_id: UUID
        coin_value_satang: int
        max_coin_share_percent: int
        cap_per_bill_coins: int | None
        matching_programme: str | None
        occurred_at: datetime

    class Suspended(Aggregate.Event):
        TOPIC = "kgo.merchant.Shop.Suspended"
        reason: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status = SUSPENDED

    class Reinstated(Aggregate.Event):
        TOPIC = "kgo.merchant.Shop.Reinstated"
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status = ACTIVE

    class RulesChanged(Aggregate.Event):
        TOPIC = "kgo.merchant.Shop.RulesChanged"
        coin_value_satang: int
        max_coin_share_percent: int
        cap_per_bill_coins: int | None
        matching_programme: str | None
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.rules = ShopRules(
                self.coin_value_satang,
                self.max_coin_share_percent,
                self.cap_per_bill_coins,
                self.matching_programme,
            )

    def __init__(
        self,
        name: str,
        category: str,
        district: str,
        latitude: float,
        longitude: float,
        size_class: str,
        payee_account_id: UUID,
        coin_value_satang: int,
        max_coin_share_percent: int,
        cap_per_bill_coins: int | None,
        matching_programme: str | None,
        occurred_at: datetime,
    ) -> None:
        self.facts = ShopFacts(
            name, Category(category), district, latitude, longitude, SizeClass(size_class)
        )
        self.payee_account_id = payee_account_id
        self.rules = ShopRules(
            coin_value_satang, max_coin_share_percent, cap_per_bill_coins, matching_programme
        )
        self.status = ACTIVE
        self.enrolled_at = occurred_at

    @classmethod
    def enrol(
        cls, shop_id: UUID, facts: ShopFacts, rules: ShopRules, *, payee: UUID, at: datetime
    ) -> Shop:
        return cls._create(
            cls.Enrolled,
            id=shop_id,
            name=facts.name,
            category=str(facts.category),
            district=facts.district,
            latitude=facts.latitude,
            longitude=facts.longitude,
            size_class=str(facts.size_class),
            payee_account_id=payee,
            occurred_at=at,
            **rules.as_fields(),
        )

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def require_active(self) -> None:
        if not self.active:
            raise ShopNotActive(f"shop {self.id} is suspended")

    def suspend(self, reason: str, *, at: datetime) -> None:
        if not self.active:
            raise AlreadyInState("the shop is already suspended")
        self.trigger_event(self.Suspended, reason=reason, occurred_at=at)

    def reinstate(self, *, at: datetime) -> None:
        if self.active:
            raise AlreadyInState("the shop is not suspended")
        self.trigger_event(self.Reinstated, occurred_at=at)

    def change_rules(self, rules: ShopRules, *, at: datetime) -> None:
        self.trigger_event(self.RulesChanged, occurred_at=at, **rules.as_fields())
