"""Examples of the events on ``kgo.merchant.events``, in the story of ``examples.py`` (same
morning, same ids)."""

from __future__ import annotations

from .base import ContractEvent
from .examples import PAID_HOLD, REDEMPTION, RESIDENT, SHOP_REF, _at
from .merchant import DiscountRedeemed


def examples() -> list[ContractEvent]:
    return [
        DiscountRedeemed(
            redemption_id=REDEMPTION,
            shop_id=SHOP_REF,
            wallet_id=RESIDENT,
            hold_id=PAID_HOLD,
            coins=25,
            discount_satang=2_500,
            bill_satang=12_000,
            occurred_at=_at(8, 16),
        ),
    ]
