"""The PassAccount aggregate: one transit pass's rides, known only by its digest.

It is where concurrent taps of one pass meet: every decision that counts a ride (the daily
fare cap, the double-tap guard, the offline allowance) changes this aggregate, so two taps
deciding at once conflict on its version and the second decides again, seeing the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from kgo_runtime.clock import bangkok_day

from .fares import Fare
from .ids import pass_key
from .taps import BahtOnly, Decline, DeclineReason, Judgement, Reserve, Tap

#: Baht rides older than this (by tap time) are forgotten: no guard window is this long.
RECENT_HORIZON = timedelta(hours=6)
#: Coin rides are kept longer: an offline batch of last week still meets its day's cap.
CAP_HORIZON = timedelta(days=8)


@dataclass(frozen=True)
class Ride:
    trip_id: UUID
    bus_id: str
    tapped_at: datetime
    #: ``campaign/day`` for a coin ride (counts toward the cap), None for a baht ride.
    cap_slot: str | None


def cap_slot(campaign: str, at: datetime) -> str:
    return f"{campaign}/{bangkok_day(at)}"


class PassAccount(Aggregate):
    TOPIC = "kgo.transit.PassAccount"

    class Created(Aggregate.Created):
        TOPIC = "kgo.transit.PassAccount.Created"

    class Opened(Aggregate.Created):
        TOPIC = "kgo.transit.PassAccount.Opened"
        pass_digest: str

    class RideCounted(Aggregate.Event):
        """A ride holds its slot (pending a wallet answer, or a baht ride)."""

        TOPIC = "kgo.transit.PassAccount.RideCounted"
        trip_id: UUID
        bus_id: str
        tapped_at: datetime
        cap_slot: str | None

        def apply(self, aggregate: Any) -> None:
            ride = Ride(self.trip_id, self.bus_id, self.tapped_at, self.cap_slot)
            aggregate.rides[self.trip_id] = ride
            aggregate.forget_old(self.tapped_at)

    class RideConfirmed(Aggregate.Event):
        TOPIC = "kgo.transit.PassAccount.RideConfirmed"
        trip_id: UUID
        wallet_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.wallet_id = self.wallet_id

    class RideReleased(Aggregate.Event):
        """A counted ride was not paid in coins after all: its slot is free again."""

        TOPIC = "kgo.transit.PassAccount.RideReleased"
        trip_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.rides.pop(self.trip_id, None)

    class ShortfallCovered(Aggregate.Event):
        TOPIC = "kgo.transit.PassAccount.ShortfallCovered"
        trip_id: UUID
        coins: int

        def apply(self, aggregate: Any) -> None:
            aggregate.offline_shortfall += self.coins
            aggregate.shortfall_trips.add(self.trip_id)

    class Denied(Aggregate.Event):
        TOPIC = "kgo.transit.PassAccount.Denied"
        reason: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.denied = True

    class Reinstated(Aggregate.Event):
        """Off the deny list by an operator's decision: the loss cover counted so far is
        forgiven, so the pass's offline allowance starts again."""

        TOPIC = "kgo.transit.PassAccount.Reinstated"
        reason: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.denied = False
            aggregate.offline_shortfall = 0

    def __init__(self, pass_digest: str) -> None:
        self.pass_digest = pass_digest
        self.wallet_id: UUID | None = None
        self.rides: dict[UUID, Ride] = {}
        self.offline_shortfall = 0
        self.shortfall_trips: set[UUID] = set()
        self.denied = False

    #: What an account holds besides immutable values (see __deepcopy__).
    CONTAINERS = ("rides", "shortfall_trips", "_pending_events")

    def __deepcopy__(self, memo: dict[int, Any]) -> PassAccount:
        """The repository's copy for a command, at the cost of copying three containers:
        their items are shared (rides are frozen, ids and events immutable), where a
        generic deep copy walked every ride of the account on every tap."""
        copied = object.__new__(type(self))
        copied.__dict__.update(self.__dict__)
        copied.rides = dict(self.rides)
        copied.shortfall_trips = set(self.shortfall_trips)
        copied._pending_events = list(self._pending_events)
        return copied

    @classmethod
    def open(cls, pass_digest: str) -> PassAccount:
        return cls._create(cls.Opened, id=pass_key(pass_digest), pass_digest=pass_digest)

    # --- rules -----------------------------------------------------------------------------

    def judge(
        self,
        tap: Tap,
        fare: Fare,
        baht_fare: Fare,
        *,
        double_tap: timedelta,
        cap: int | None,
    ) -> Judgement:
        """The decision on ``tap`` given this pass's history; changes nothing. ``fare`` is
        the fare in force at tap time, ``baht_fare`` the product's own baht fare (what a
        declined rider pays instead)."""
        if self.denied:
            return Decline(DeclineReason.PASS_DENIED, baht_fare)
        if self.is_double_tap(tap, double_tap):
            return Decline(DeclineReason.DOUBLE_TAP, None)
        if fare.coins == 0 or fare.campaign is None:
            return BahtOnly(fare)
        if cap is not None and self.coin_rides(cap_slot(fare.campaign, tap.tapped_at)) >= cap:
            return Decline(DeclineReason.FARE_CAP_REACHED, baht_fare)
        return Reserve(fare)

    def is_double_tap(self, tap: Tap, window: timedelta) -> bool:
        return any(
            ride.bus_id == tap.bus_id and abs(ride.tapped_at - tap.tapped_at) < window
            for ride in self.rides.values()
            if ride.trip_id != tap.trip_id
        )

    def coin_rides(self, slot: str) -> int:
        return sum(1 for ride in self.rides.values() if ride.cap_slot == slot)

    def counted_shortfall(self, trip_id: UUID) -> bool:
        return trip_id in self.shortfall_trips

    def allowance_left(self, allowance: int) -> int:
        return max(0, allowance - self.offline_shortfall)

    # --- changes ---------------------------------------------------------------------------

    def count_ride(self, tap: Tap, fare: Fare) -> None:
        slot = cap_slot(fare.campaign, tap.tapped_at) if fare.coins and fare.campaign else None
        self.trigger_event(
            self.RideCounted,
            trip_id=tap.trip_id,
            bus_id=tap.bus_id,
            tapped_at=tap.tapped_at,
            cap_slot=slot,
        )

    def confirm(self, trip_id: UUID, wallet_id: UUID) -> None:
        if self.wallet_id != wallet_id or trip_id not in self.rides:
            self.trigger_event(self.RideConfirmed, trip_id=trip_id, wallet_id=wallet_id)

    def release(self, trip_id: UUID) -> None:
        if trip_id in self.rides:
            self.trigger_event(self.RideReleased, trip_id=trip_id)

    def cover_shortfall(self, trip_id: UUID, coins: int) -> None:
        self.trigger_event(self.ShortfallCovered, trip_id=trip_id, coins=coins)

    def deny(self, reason: str, at: datetime) -> None:
        if not self.denied:
            self.trigger_event(self.Denied, reason=reason, occurred_at=at)

    def reinstate(self, reason: str, at: datetime) -> None:
        if self.denied:
            self.trigger_event(self.Reinstated, reason=reason, occurred_at=at)

    def forget_old(self, newest: datetime) -> None:
        """Drop rides that can no longer matter (older than their horizon)."""
        for key, ride in list(self.rides.items()):
            horizon = RECENT_HORIZON if ride.cap_slot is None else CAP_HORIZON
            if ride.tapped_at < newest - horizon:
                del self.rides[key]
