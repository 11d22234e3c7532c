"""Events on ``kgo.transit.events``."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from . import topics
from .base import BusinessTime, CoinBalance, ContractEvent, Satang, Text


class FarePaid(ContractEvent):
    """A rider's fare was paid at a validator tap, in coins and baht."""

    wire_name: ClassVar[str] = "kgo.transit.FarePaid"
    topic: ClassVar[str] = topics.TRANSIT
    key_field: ClassVar[str] = "wallet_id"

    trip_id: UUID
    wallet_id: UUID
    validator_id: Text
    route_id: Text
    fare_product: Text = Field(description="e.g. 'one-baht-bus-2022', 'regular', 'student'.")
    coins: CoinBalance
    baht_satang: Satang
    occurred_at: BusinessTime = Field(description="The validator's own tap time.")


TRANSIT_EVENTS: tuple[type[ContractEvent], ...] = (FarePaid,)
