"""What the application answers about a trip: a typed view, not an aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ..domain.taps import Tap
from ..domain.trip import Trip


@dataclass(frozen=True)
class TripView:
    trip_id: UUID
    tap_id: str
    status: str
    tapped_at: datetime
    fare_product: str | None = None
    coins: int = 0
    baht_satang: int = 0
    campaign: str | None = None
    reason: str | None = None
    shortfall_covered: int = 0
    offline: bool = False
    replayed: bool = False

    @classmethod
    def pending_of(cls, tap: Tap) -> TripView:
        return cls(tap.trip_id, tap.tap_id, "pending", tap.tapped_at, offline=tap.offline)

    def answer(self) -> dict[str, Any]:
        """The JSON a validator gets (no wallet id, no balance)."""
        return {
            "trip_id": str(self.trip_id),
            "tap_id": self.tap_id,
            "status": self.status,
            "tapped_at": self.tapped_at.isoformat(),
            "fare_product": self.fare_product,
            "coins": self.coins,
            "baht_satang": self.baht_satang,
            "campaign": self.campaign,
            "reason": self.reason,
            "shortfall_covered": self.shortfall_covered,
            "offline": self.offline,
        }


def trip_view(trip: Trip, *, replayed: bool = False) -> TripView:
    outcome = trip.outcome
    tap = trip.tap
    if outcome is None:
        fare = trip.fare
        return TripView(
            trip.id,
            tap.tap_id,
            "pending",
            tap.tapped_at,
            fare_product=fare.fare_product if fare else None,
            coins=fare.coins if fare else 0,
            baht_satang=fare.baht_satang if fare else 0,
            campaign=fare.campaign if fare else None,
            offline=tap.offline,
            replayed=replayed,
        )
    return TripView(
        trip.id,
        tap.tap_id,
        trip.status,
        tap.tapped_at,
        fare_product=outcome.fare_product,
        coins=outcome.coins,
        baht_satang=outcome.baht_satang,
        campaign=outcome.campaign,
        reason=getattr(outcome, "reason", None),
        shortfall_covered=getattr(outcome, "shortfall_covered", 0),
        offline=tap.offline,
        replayed=replayed,
    )
