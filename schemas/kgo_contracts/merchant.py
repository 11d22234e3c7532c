"""Events on ``kgo.merchant.events``."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from . import topics
from .base import BusinessTime, Coins, ContractEvent, Satang


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


MERCHANT_EVENTS: tuple[type[ContractEvent], ...] = (DiscountRedeemed,)
