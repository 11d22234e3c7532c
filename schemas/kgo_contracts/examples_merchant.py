"""Examples of the events on ``kgo.merchant.events``, in the story of ``examples.py`` (same
day, same ids). The shop enrols, takes a redemption at 08:16 and another at 09:16, declines a
third (expired code), voids the 09:16 one at 09:30, rewards the resident from its own balance
at 09:45 and settles the rest with the welcome budget at 17:00; then its rules change and it
is suspended and reinstated.

Shop balance along the story (the wallet's legs in ``examples.py``): 25 (08:16), 45 (09:16),
25 (void, ``movement refund-1``), 20 (reward, ``movement reward-1``), 0 (settlement,
``movement settlement-1``)."""

from __future__ import annotations

from .base import ContractEvent
from .examples import (
    PAID_HOLD,
    REDEMPTION,
    RESIDENT,
    SETTLEMENT_PAYMENT,
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
            coins=10, bill_satang=5_000, occurred_at=_at(9, 5),
        ),
        DiscountRedeemed(
            redemption_id=VOIDED_REDEMPTION, shop_id=SHOP_REF, wallet_id=RESIDENT,
            hold_id=VOIDED_HOLD, coins=20, discount_satang=2_000, bill_satang=6_000,
            occurred_at=_at(9, 16),
        ),
        RedemptionVoided(
            shop_id=SHOP_REF, redemption_id=VOIDED_REDEMPTION, wallet_id=RESIDENT,
            movement_id=_id("movement refund-1"), coins=20, discount_satang=2_000,
            bill_satang=6_000, occurred_at=_at(9, 30),
        ),
        CustomerRewarded(
            shop_id=SHOP_REF, reward_id=_id("reward-1"), wallet_id=RESIDENT,
            movement_id=_id("movement reward-1"), coins=5, source="shop", occurred_at=_at(9, 45),
        ),
        ShopSettled(
            shop_id=SHOP_REF, settlement_id=_id("settlement-1"),
            movement_id=_id("movement settlement-1"), coins=20, baht_satang=2_000,
            payment_reference=str(SETTLEMENT_PAYMENT), programme="welcome",
            occurred_at=_at(17),
        ),
        ShopRulesChanged(
            shop_id=SHOP_REF, occurred_at=_at(17, 30),
            **RULES | {"max_coin_share_percent": 30},
        ),
        ShopSuspended(shop_id=SHOP_REF, reason="inspection pending", occurred_at=_at(18)),
        ShopReinstated(shop_id=SHOP_REF, occurred_at=_at(18, 30)),
    ]  # fmt: skip
