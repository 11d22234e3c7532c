"""Events on ``kgo.merchant.events``, all keyed by ``shop_id``.

Shops are businesses: their name, category, district, location and size class are public
facts. A shop's contact person and phone never appear here; residents appear only as their
pseudonymous ``wallet_id``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field

from . import topics
from .base import BusinessTime, Coins, ContractEvent, Satang, Text

#: Khon Kaen province's districts (amphoe) in English.
District = Literal[
    "Mueang Khon Kaen", "Ban Fang", "Phra Yuen", "Nong Ruea", "Chum Phae", "Si Chomphu",
    "Nam Phong", "Ubolratana", "Kranuan", "Ban Phai", "Pueai Noi", "Phon", "Waeng Yai",
    "Waeng Noi", "Nong Song Hong", "Phu Wiang", "Mancha Khiri", "Chonnabot", "Khao Suan Kwang",
    "Phu Pha Man", "Sam Sung", "Khok Pho Chai", "Nong Na Kham", "Ban Haet", "Non Sila",
    "Wiang Kao",
]  # fmt: skip
Category = Literal[
    "food_and_drink", "grocery", "market_stall", "retail", "services", "health_and_beauty",
    "crafts", "other",
]  # fmt: skip
#: A stable reason code, e.g. ``payment_code_invalid``, ``coin_share_exceeded``.
ReasonCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
Percent = Annotated[int, Field(strict=True, ge=1, le=100)]


class _ShopEvent(ContractEvent):
    topic: ClassVar[str] = topics.MERCHANT
    key_field: ClassVar[str] = "shop_id"

    shop_id: UUID


class ShopRulesFields(_ShopEvent):
    """The rules a shop accepts coins under."""

    coin_value_satang: Annotated[int, Field(strict=True, gt=0)] = Field(
        description="What one coin takes off a bill, in satang."
    )
    max_coin_share_percent: Percent = Field(description="Largest share of a bill coins may pay.")
    cap_per_bill_coins: Coins | None = Field(default=None, description="Most coins per bill.")
    matching_programme: Text | None = Field(
        default=None, description="The budget the shop's matched rewards come from, if any."
    )


class ShopEnrolled(ShopRulesFields):
    """A shop joined the programme (its wallet account: ``payee_account_id``)."""

    wire_name: ClassVar[str] = "kgo.merchant.ShopEnrolled"

    payee_account_id: UUID
    label: Text = Field(description="The shop's trading name (as on its wallet account).")
    category: Category
    district: District
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    size_class: Literal["small", "large"] = Field(
        description="Whether the shop is small: the fairness measures compare small shops."
    )
    occurred_at: BusinessTime


class ShopRulesChanged(ShopRulesFields):
    """A shop's rules changed; they apply to redemptions started from now on."""

    wire_name: ClassVar[str] = "kgo.merchant.ShopRulesChanged"

    occurred_at: BusinessTime


class ShopSuspended(_ShopEvent):
    """A shop may no longer take coins (its tills are declined ``shop_suspended``)."""

    wire_name: ClassVar[str] = "kgo.merchant.ShopSuspended"

    reason: Text
    occurred_at: BusinessTime


class ShopReinstated(_ShopEvent):
    """A suspended shop may take coins again."""

    wire_name: ClassVar[str] = "kgo.merchant.ShopReinstated"

    occurred_at: BusinessTime


class DiscountRedeemed(ContractEvent):
    """A resident paid part of a bill at a participating shop with coins."""

    wire_name: ClassVar[str] = "kgo.merchant.DiscountRedeemed"
    topic: ClassVar[str] = topics.MERCHANT
    key_field: ClassVar[str] = "shop_id"

    redemption_id: UUID
    shop_id: UUID
    wallet_id: UUID
    hold_id: UUID
    coins: Coins
    discount_satang: Satang
    bill_satang: Satang
    occurred_at: BusinessTime


class RedemptionDeclined(_ShopEvent):
    """A till's redemption was declined, by the shop's rules or by the wallet; nothing moved
    (a hold already placed was released). ``wallet_id`` only once the wallet named it."""

    wire_name: ClassVar[str] = "kgo.merchant.RedemptionDeclined"

    redemption_id: UUID
    wallet_id: UUID | None = None
    reason_code: ReasonCode
    coins: Coins
    bill_satang: Satang
    occurred_at: BusinessTime


class RedemptionVoided(_ShopEvent):
    """A redemption was voided within the void window: its coins went back to the resident
    (the wallet's movement ``movement_id``)."""

    wire_name: ClassVar[str] = "kgo.merchant.RedemptionVoided"

    redemption_id: UUID
    wallet_id: UUID
    movement_id: UUID
    coins: Coins
    discount_satang: Satang
    bill_satang: Satang
    occurred_at: BusinessTime


class CustomerRewarded(_ShopEvent):
    """A shop rewarded a customer with coins from its own balance (``source: shop``) or from
    a matching budget (``source: matching``, ``programme``)."""

    wire_name: ClassVar[str] = "kgo.merchant.CustomerRewarded"

    reward_id: UUID
    wallet_id: UUID
    movement_id: UUID
    coins: Coins
    source: Literal["shop", "matching"]
    programme: Text | None = None
    occurred_at: BusinessTime


class ShopSettled(_ShopEvent):
    """A shop returned coins to a programme budget for ``baht_satang`` the programme pays
    outside KGO (``payment_reference``: the bank transfer)."""

    wire_name: ClassVar[str] = "kgo.merchant.ShopSettled"

    settlement_id: UUID
    movement_id: UUID
    coins: Coins
    baht_satang: Satang
    payment_reference: Text
    programme: Text
    occurred_at: BusinessTime


MERCHANT_EVENTS: tuple[type[ContractEvent], ...] = (
    DiscountRedeemed,
    ShopEnrolled,
    ShopRulesChanged,
    ShopSuspended,
    ShopReinstated,
    RedemptionDeclined,
    RedemptionVoided,
    CustomerRewarded,
    ShopSettled,
)
