"""What the merchant service publishes: its stored domain events mapped to the public contracts
on ``kgo_contracts.topics.MERCHANT``. The relay calls :func:`to_contract` for every stored event.

One table names every stored event class: its contract builder, or ``None`` for an event
internal to merchant. A class missing from it stops the relay with an error instead of being
silently left unpublished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from kgo_contracts import merchant as c
from kgo_contracts.base import ContractEvent

from ..domain.circulation import ResidentDay, Reward, Settlement
from ..domain.receipt import CommandReceipt
from ..domain.redemption import Redemption
from ..domain.shops import Shop

Build = Callable[[Any], ContractEvent]


def _rules(e: Any) -> dict[str, Any]:
    return {
        "coin_value_satang": e.coin_value_satang,
        "max_coin_share_percent": e.max_coin_share_percent,
        "cap_per_bill_coins": e.cap_per_bill_coins,
        "matching_programme": e.matching_programme,
    }


def _enrolled(e: Any) -> ContractEvent:
    return c.ShopEnrolled(
        shop_id=e.originator_id, payee_account_id=e.payee_account_id, label=e.name,
        category=e.category, district=e.district, latitude=e.latitude, longitude=e.longitude,
        size_class=e.size_class, occurred_at=e.occurred_at, **_rules(e),
    )  # fmt: skip


def _redeemed(e: Any) -> ContractEvent:
    return c.DiscountRedeemed(
        redemption_id=e.originator_id, shop_id=e.shop_id, wallet_id=e.wallet_id,
        hold_id=e.hold_id, coins=e.coins, discount_satang=e.discount_satang,
        bill_satang=e.bill_satang, occurred_at=e.occurred_at,
    )  # fmt: skip


def _declined(e: Any) -> ContractEvent:
    return c.RedemptionDeclined(
        redemption_id=e.originator_id, shop_id=e.shop_id, wallet_id=e.wallet_id,
        reason_code=e.reason_code, coins=e.coins, bill_satang=e.bill_satang,
        occurred_at=e.occurred_at,
    )  # fmt: skip


def _voided(e: Any) -> ContractEvent:
    return c.RedemptionVoided(
        redemption_id=e.originator_id, shop_id=e.shop_id, wallet_id=e.wallet_id,
        movement_id=e.movement_id, coins=e.coins, discount_satang=e.discount_satang,
        bill_satang=e.bill_satang, occurred_at=e.occurred_at,
    )  # fmt: skip


def _rewarded(e: Any) -> ContractEvent:
    return c.CustomerRewarded(
        reward_id=e.originator_id, shop_id=e.shop_id, wallet_id=e.wallet_id,
        movement_id=e.movement_id, coins=e.coins, source=e.source, programme=e.programme,
        occurred_at=e.occurred_at,
    )  # fmt: skip


def _settled(e: Any) -> ContractEvent:
    return c.ShopSettled(
        settlement_id=e.originator_id, shop_id=e.shop_id, movement_id=e.movement_id,
        coins=e.coins, baht_satang=e.baht_satang, payment_reference=e.payment_reference,
        programme=e.programme, occurred_at=e.occurred_at,
    )  # fmt: skip


#: Every stored event class: how it is published, or None (internal to merchant).
CONTRACTS: dict[type[Any], Build | None] = {
    Shop.Enrolled: _enrolled,
    Shop.RulesChanged: lambda e: c.ShopRulesChanged(
        shop_id=e.originator_id, occurred_at=e.occurred_at, **_rules(e)
    ),
    Shop.Suspended: lambda e: c.ShopSuspended(
        shop_id=e.originator_id, reason=e.reason, occurred_at=e.occurred_at
    ),
    Shop.Reinstated: lambda e: c.ShopReinstated(shop_id=e.originator_id, occurred_at=e.occurred_at),
    Redemption.Started: None,
    Redemption.HoldPlaced: None,
    Redemption.Redeemed: _redeemed,
    Redemption.Declined: _declined,
    Redemption.Voided: _voided,
    Reward.Started: None,
    Reward.Rewarded: _rewarded,
    Reward.Declined: None,
    Settlement.Started: None,
    Settlement.Settled: _settled,
    Settlement.Declined: None,
    ResidentDay.Opened: None,
    ResidentDay.Counted: None,
    ResidentDay.Uncounted: None,
    CommandReceipt.Recorded: None,
}


def to_contract(event: DomainEventProtocol[Any]) -> ContractEvent | None:
    """The public contract of ``event``, or None for an event internal to merchant."""
    try:
        build = CONTRACTS[type(event)]
    except KeyError:
        raise TypeError(f"merchant: no public mapping for {type(event).__qualname__}") from None
    return None if build is None else build(event)
