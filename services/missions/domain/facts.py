"""Facts: what missions knows about a resident, each at its own business time.

Progress is never a running counter: it is re-evaluated over the facts inside a mission's
window, so a fact arriving late or out of order across topics counts exactly as it would
have on time, and replaying the topics in any interleaving finds the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class FactKind(StrEnum):
    #: The wallet opened the resident's account (``kgo.wallet.AccountOpened``, resident).
    ACCOUNT_OPENED = "account_opened"
    #: A fare was paid at a validator (``kgo.transit.FarePaid``).
    FARE_PAID = "fare_paid"
    #: Coins paid part of a bill at a shop (``kgo.merchant.DiscountRedeemed``).
    DISCOUNT_REDEEMED = "discount_redeemed"
    #: The resident checked in at a municipal activity.
    CHECKED_IN = "checked_in"
    #: An operator awarded a manual mission.
    MANUAL_AWARD = "manual_award"


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing a resident did. ``fact_id`` is the source event's stable ``ce_id`` (or a
    deterministic id for a fact recorded by missions itself), so a fact is known once."""

    fact_id: str
    kind: FactKind
    at: datetime
    shop_id: UUID | None = None
    activity_id: UUID | None = None
    mission_id: UUID | None = None
    reason: str | None = None
