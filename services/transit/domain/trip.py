"""The Trip aggregate: one tap and what was decided on it.

Its id comes from the tap (validator + tap id), so a retried tap or a re-sent offline batch
finds the trip it made the first time. A trip is *pending* between the moment its coins were
asked for and the wallet's answer; it ends paid (``FarePaid``) or declined (``FareDeclined``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .errors import IdempotencyConflict
from .fares import Fare
from .taps import DeclineReason, Tap

PENDING, PAID, DECLINED = "pending", "paid", "declined"


class Trip(Aggregate):
    TOPIC = "kgo.transit.Trip"

    class Created(Aggregate.Created):
        TOPIC = "kgo.transit.Trip.Created"

    class Tapped(Aggregate.Created):
        TOPIC = "kgo.transit.Trip.Tapped"
        tap_id: str
        validator_id: str
        bus_id: str
        route_id: str
        pass_digest: str
        fare_product: str
        tapped_at: datetime
        offline: bool
        fingerprint: str

    class CoinsAsked(Aggregate.Event):
        """The fare's coins were asked of the wallet: the trip waits for its answer."""

        TOPIC = "kgo.transit.Trip.CoinsAsked"
        fare_product: str
        coins: int
        baht_satang: int
        campaign: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.fare = Fare(self.fare_product, self.coins, self.baht_satang, self.campaign)

    class Decided(Aggregate.Event):
        """Base of the two outcomes: every field a subscriber needs, not only the change."""

        TOPIC = "kgo.transit.Trip.Decided"
        tap_id: str
        validator_id: str
        bus_id: str
        route_id: str
        pass_digest: str
        wallet_id: UUID | None
        fare_product: str
        coins: int
        baht_satang: int
        campaign: str | None
        tapped_at: datetime
        offline: bool

    class FarePaid(Decided):
        TOPIC = "kgo.transit.Trip.FarePaid"
        #: Coins the programme's loss budget paid for a rider whose coins were gone.
        shortfall_covered: int

        def apply(self, aggregate: Any) -> None:
            aggregate.status = PAID
            aggregate.outcome = self

    class FareDeclined(Decided):
        TOPIC = "kgo.transit.Trip.FareDeclined"
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DECLINED
            aggregate.outcome = self

    def __init__(
        self,
        tap_id: str,
        validator_id: str,
        bus_id: str,
        route_id: str,
        pass_digest: str,
        fare_product: str,
        tapped_at: datetime,
        offline: bool,
        fingerprint: str,
    ) -> None:
        self.tap = Tap(
            tap_id, validator_id, bus_id, route_id, pass_digest, tapped_at, fare_product, offline
        )
        self.fingerprint = fingerprint
        self.status = PENDING
        self.outcome: Trip.Decided | None = None
        #: The fare whose coins were asked of the wallet (a pending trip waits on it).
        self.fare: Fare | None = None

    @classmethod
    def start(cls, tap: Tap) -> Trip:
        return cls._create(
            cls.Tapped,
            id=tap.trip_id,
            tap_id=tap.tap_id,
            validator_id=tap.validator_id,
            bus_id=tap.bus_id,
            route_id=tap.route_id,
            pass_digest=tap.pass_digest,
            fare_product=tap.fare_product,
            tapped_at=tap.tapped_at,
            offline=tap.offline,
            fingerprint=tap.fingerprint(),
        )

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    @property
    def awaiting_wallet(self) -> bool:
        return self.pending and self.fare is not None

    def ask_coins(self, fare: Fare) -> None:
        self.trigger_event(
            self.CoinsAsked,
            fare_product=fare.fare_product,
            coins=fare.coins,
            baht_satang=fare.baht_satang,
            campaign=fare.campaign,
        )

    def same_tap(self, tap: Tap) -> None:
        if tap.fingerprint() != self.fingerprint:
            raise IdempotencyConflict(f"tap id {tap.tap_id!r} was already used for another tap")

    def _facts(self, wallet_id: UUID | None, fare: Fare) -> dict[str, Any]:
        tap = self.tap
        return {
            "tap_id": tap.tap_id,
            "validator_id": tap.validator_id,
            "bus_id": tap.bus_id,
            "route_id": tap.route_id,
            "pass_digest": tap.pass_digest,
            "wallet_id": wallet_id,
            "fare_product": fare.fare_product,
            "coins": fare.coins,
            "baht_satang": fare.baht_satang,
            "campaign": fare.campaign,
            "tapped_at": tap.tapped_at,
            "offline": tap.offline,
        }

    def pay(self, wallet_id: UUID, fare: Fare, *, shortfall_covered: int = 0) -> None:
        if not self.pending:
            return
        facts = self._facts(wallet_id, fare)
        self.trigger_event(self.FarePaid, shortfall_covered=shortfall_covered, **facts)

    def decline(
        self, reason: DeclineReason, fare: Fare | None, wallet_id: UUID | None = None
    ) -> None:
        """Declined; ``fare`` is the baht fare that applies instead (None: nothing is due)."""
        if not self.pending:
            return
        due = fare or Fare(self.tap.fare_product, 0, 0)
        facts = self._facts(wallet_id, Fare(due.fare_product, 0, due.baht_satang))
        self.trigger_event(self.FareDeclined, reason=str(reason), **facts)
