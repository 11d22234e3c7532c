"""A tap as the validator reported it, and the decision transit takes on it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from .fares import Fare
from .ids import trip_id


class DeclineReason(StrEnum):
    INSUFFICIENT_COINS = "insufficient_coins"
    FARE_CAP_REACHED = "fare_cap_reached"
    DOUBLE_TAP = "double_tap"
    PASS_DENIED = "pass_denied"
    PASS_UNKNOWN = "pass_unknown"


@dataclass(frozen=True)
class Tap:
    """One tap at a validator. ``pass_digest`` is the keyed digest of the pass: the token
    itself never reaches the store or Kafka."""

    tap_id: str
    validator_id: str
    bus_id: str
    route_id: str
    pass_digest: str
    tapped_at: datetime
    fare_product: str = "regular"
    offline: bool = False

    @property
    def trip_id(self) -> UUID:
        return trip_id(self.validator_id, self.tap_id)

    def fingerprint(self) -> str:
        """What must match when the same tap id comes again (else the id was reused)."""
        text = f"{self.pass_digest}|{self.tapped_at.isoformat()}|{self.fare_product}|{self.bus_id}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Reserve:
    """Take the fare's coins from the rider's wallet (a ride slot is held meanwhile)."""

    fare: Fare


@dataclass(frozen=True)
class BahtOnly:
    """No coins: the product's baht fare (outside every campaign)."""

    fare: Fare


@dataclass(frozen=True)
class Decline:
    reason: DeclineReason
    #: The fare that applies instead (baht only), or None when nothing is due (a double tap).
    fare: Fare | None


Judgement = Reserve | BahtOnly | Decline
