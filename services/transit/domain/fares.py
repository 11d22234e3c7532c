"""Fare products and campaigns: what a ride costs at a given tap time.

A campaign window is inclusive at both ends, to the second, in whatever offset the instants
carry (comparisons are on aware datetimes, so 31 August 23:59:59 Bangkok time is 16:59:59
UTC the same day). Outside every campaign no coins are taken: the product's baht fare.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidSchedule

#: The products a validator may ask for; the price is in satang.
DEFAULT_PRODUCTS: dict[str, int] = {"regular": 1500, "student": 1000}


@dataclass(frozen=True)
class Campaign:
    """A dated window in which a ride costs ``coins`` plus ``baht_satang``."""

    campaign_id: str
    starts_at: datetime
    ends_at: datetime
    coins: int
    baht_satang: int
    #: The programme budget the operator's coins go back to at settlement.
    programme: str
    #: At most this many coin rides per pass per Bangkok day (None: no cap).
    daily_cap: int | None = None

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise InvalidSchedule("campaign times must carry their offset")
        if self.ends_at < self.starts_at:
            raise InvalidSchedule("a campaign ends after it starts")
        if self.coins <= 0 or self.baht_satang < 0:
            raise InvalidSchedule("a campaign ride costs coins > 0 and baht >= 0")
        if self.daily_cap is not None and self.daily_cap <= 0:
            raise InvalidSchedule("a daily cap is at least 1 ride")

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at <= self.ends_at

    def overlaps(self, other: Campaign) -> bool:
        return self.starts_at <= other.ends_at and other.starts_at <= self.ends_at


def campaign_at(campaigns: Iterable[Campaign], at: datetime) -> Campaign | None:
    """The campaign in force at ``at`` (windows never overlap), or None."""
    for campaign in campaigns:
        if campaign.covers(at):
            return campaign
    return None


@dataclass(frozen=True)
class Fare:
    """What one ride costs: a coin part and a baht part, under a named fare product."""

    fare_product: str
    coins: int
    baht_satang: int
    campaign: str | None = None


def fare_for(
    products: dict[str, int], campaigns: Iterable[Campaign], product: str, at: datetime
) -> Fare:
    """The fare at tap time ``at``: the campaign's coins and baht, else the product's baht."""
    if product not in products:
        raise InvalidSchedule(f"unknown fare product {product!r}")
    campaign = campaign_at(campaigns, at)
    if campaign is None:
        return Fare(product, 0, products[product])
    return Fare(campaign.campaign_id, campaign.coins, campaign.baht_satang, campaign.campaign_id)
