"""Examples of the events on ``kgo.merchant.events``, in the story of ``examples.py`` (same
day, same ids). The shop enrols, takes a redemption at 08:16 and another at 11:01, declines a
third (expired code), voids the 11:01 one, rewards the resident from its own balance and
settles the rest with the municipality in the evening; then it is suspended and reinstated.

Shop balance along the story: 25 (08:16), 45 (11:01), 25 (void 11:30), 20 (reward 12:00),
0 (settlement 17:00). The void's refund, the reward and the settlement are wallet movements
``movement void-1``, ``movement reward-1`` and ``movement settlement-1``."""

from __future__ import annotations

from .base import ContractEvent
from .examples import (
    PAID_HOLD,
    REDEMPTION,
    RESIDENT,
    SHOP,
    SHOP_REF,
    VOIDED_HOLD,
    VOIDED_REDEMPTION,
    _at,
    _id,
)
from .merchant import (
    CustomerRewarded,
    DiscountRedeemed,
    RedemptionDeclined,
    RedemptionVoided,
    ShopEnrolled,
    ShopReinstated,
    ShopRulesChanged,
    ShopSettled,
    ShopSuspended,
)

RULES = {"coin_value_satang": 100, "max_coin_share_percent": 50, "cap_per_bill_coins": 200}


def examples() -> list[ContractEvent]:
    return [
        ShopEnrolled(
            shop_id=SHOP_REF, payee_account_id=SHOP, label="Som Tam Bueng Kaen Nakhon",
            category="food_and_drink", district="Mueang Khon Kaen", latitude=16.4164,
            longitude=102.8369, size_class="small", occurred_at=_at(8), **RULES,
        ),
        DiscountRedeemed(
            redemption_id=REDEMPTION, shop_id=SHOP_REF, wallet_id=RESIDENT, hold_id=PAID_HOLD,
            coins=25, discount_satang=2_500, bill_satang=12_000, occurred_at=_at(8, 16),
        ),
        RedemptionDeclined(
            shop_id=SHOP_REF, redemption_id=_id("redemption-3"), reason_code="payment_code_expired",
            coins=10, bill_satang=5_000, occurred_at=_at(9, 20),
        ),
        DiscountRedeemed(
            redemption_id=VOIDED_REDEMPTION, shop_id=SHOP_REF, wallet_id=RESIDENT,
            hold_id=VOIDED_HOLD, coins=20, discount_satang=2_000, bill_satang=6_000,
            occurred_at=_at(11, 1),
        ),
        RedemptionVoided(
            shop_id=SHOP_REF, redemption_id=VOIDED_REDEMPTION, wallet_id=RESIDENT,
            movement_id=_id("movement void-1"), coins=20, discount_satang=2_000,
            bill_satang=6_000, occurred_at=_at(11, 30),
        ),
        CustomerRewarded(
            shop_id=SHOP_REF, reward_id=_id("reward-1"), wallet_id=RESIDENT,
            movement_id=_id("movement reward-1"), coins=5, source="shop", occurred_at=_at(12),
        ),
        ShopSettled(
            shop_id=SHOP_REF, settlement_id=_id("settlement-1"),
            movement_id=_id("movement settlement-1"), coins=20, baht_satang=2_000,
            payment_reference="KTB-20220610-000123", programme="municipal-activities",
            occurred_at=_at(17),
        ),
        ShopRulesChanged(
            shop_id=SHOP_REF, occurred_at=_at(17, 30),
            **RULES | {"max_coin_share_percent": 30},
        ),
        ShopSuspended(shop_id=SHOP_REF, reason="inspection pending", occurred_at=_at(18)),
        ShopReinstated(shop_id=SHOP_REF, occurred_at=_at(18, 30)),
    ]  # fmt: skip
