"""Taps in, fares out: the command that decides one tap (batches: :mod:`.batches`).

A tap is decided in up to three steps, each saved before the next begins:

1. **judge** (one transaction): the trip is created from the tap id; the pass's account
   decides (deny list, double tap, campaign at tap time, daily cap) and, for a coin fare,
   counts the ride, so a concurrent tap of the same pass sees it (or conflicts and decides
   again). A decline or a baht-only fare ends here.
2. **ask the wallet** for the coins, with an idempotency key derived from the trip id; an
   offline tap whose rider no longer has them may be covered from the loss budget.
3. **record** the answer: ``FarePaid`` or ``FareDeclined``.

A crash between 2 and 3 leaves the trip pending; the wallet topic finishes it
(:mod:`.recovery`). A retried tap, or a re-sent batch, finds its trip and answers as before.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from kgo_runtime.clock import Clock

from ..domain.errors import TransitError, WalletDown, WalletRefused
from ..domain.ids import pass_key
from ..domain.network import Network
from ..domain.passes import PassAccount
from ..domain.taps import BahtOnly, Decline, DeclineReason, Reserve, Tap
from ..domain.trip import Trip
from .ports import FareAsk, Moved, Refused, WalletAnswer, WalletPort, WalletUnreachable
from .service import TransitApplication, of_kind
from .views import TripView, trip_view

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)

#: Optimistic-concurrency retries of one step before giving up (answered 503, retry safe).
ATTEMPTS = 12
#: Wallet refusals of a fare, as the reason transit records.
REFUSAL_REASONS = {
    "insufficient_funds": DeclineReason.INSUFFICIENT_COINS,
    "transit_pass_invalid": DeclineReason.PASS_UNKNOWN,  # unknown, or unlinked by its owner
    "card_locked": DeclineReason.PASS_DENIED,  # a printed card locked after wrong PINs
}


class Contention(TransitError):
    code = "contention"


@dataclass(frozen=True)
class FarePolicy:
    double_tap: timedelta = timedelta(minutes=3)
    #: Coins per rider the loss budget may cover for offline taps before the pass is denied.
    offline_allowance: int = 100
    loss_programme: str = "offline-loss"
    #: How long a read of the network (campaigns, products) is reused.
    network_seconds: float = 2.0


@dataclass(frozen=True)
class TapRequest:
    tap: Tap
    pass_token: str


@dataclass(frozen=True)
class Judged:
    trip: Trip
    #: The pass's account as saved with the trip (None: a trip found, not made now).
    account: PassAccount | None
    replayed: bool = False


@dataclass(frozen=True)
class NeedsWallet:
    """A baht-only fare for a pass whose wallet transit has not seen yet."""


_UNKNOWN = object()


class FareCollector:
    def __init__(
        self,
        store: TransitApplication,
        wallet: WalletPort,
        clock: Clock,
        operator_id: UUID,
        policy: FarePolicy | None = None,
    ) -> None:
        self.store = store
        self.wallet = wallet
        self.clock = clock
        self.operator_id = operator_id
        self.policy = policy or FarePolicy()
        self._cached_network: tuple[Network, float] | None = None

    # --- one tap ---------------------------------------------------------------------------

    async def tap(self, request: TapRequest) -> TripView:
        """Decide ``request`` (or find what was decided). Raises :class:`WalletDown` if the
        wallet did not answer: the trip stays pending and the same tap may be sent again."""
        tap = request.tap
        hint: object = None
        while True:
            step = await self._retrying(functools.partial(self._judge, tap, hint))
            if not isinstance(step, NeedsWallet):
                break
            hint = await self._resolve(request.pass_token)
        trip, replayed = step.trip, step.replayed
        if not trip.awaiting_wallet:
            return trip_view(trip, replayed=replayed)
        return await self._collect(step, request.pass_token)

    # --- step 1: judge ---------------------------------------------------------------------

    def _judge(self, tap: Tap, hint: object, careful: bool) -> Judged | NeedsWallet:
        judged, changed = self._decide(tap, hint, careful)
        if changed:
            self.store.save(*changed)
        return judged

    def _decide(
        self,
        tap: Tap,
        hint: object,
        careful: bool,
        read: Mapping[UUID, Aggregate | None] | None = None,
    ) -> tuple[Judged | NeedsWallet, list[Aggregate]]:
        """The decision on ``tap`` and the aggregates to save for it. The first attempt
        assumes a new tap (most are) and reads only the pass's account; if the trip exists
        after all, its save conflicts and the careful attempt finds it. ``read``: the
        aggregates a chunk read together (its accounts; its trips too when careful)."""
        if careful:
            existing = self._find(tap.trip_id, Trip, read)
            if existing is not None:
                existing.same_tap(tap)
                return Judged(existing, None, replayed=True), []
        network = self._network(careful)
        account = self._find(pass_key(tap.pass_digest), PassAccount, read)
        account = account or PassAccount.open(tap.pass_digest)
        fare = network.fare(tap.fare_product, tap.tapped_at)
        campaign = network.campaign(fare.campaign)
        judgement = account.judge(
            tap,
            fare,
            network.baht_fare(tap.fare_product),
            double_tap=self.policy.double_tap,
            cap=campaign.daily_cap if campaign else None,
        )
        trip = Trip.start(tap)
        match judgement:
            case Decline(reason, due):
                trip.decline(reason, due, account.wallet_id)
                return Judged(trip, None), [trip]
            case BahtOnly(baht):
                wallet_id = account.wallet_id or (hint if isinstance(hint, UUID) else None)
                if wallet_id is None and hint is None:
                    return NeedsWallet(), []
                if wallet_id is None:
                    trip.decline(DeclineReason.PASS_UNKNOWN, baht)
                    return Judged(trip, None), [trip]
                account.count_ride(tap, baht)
                account.confirm(trip.id, wallet_id)
                trip.pay(wallet_id, baht)
            case Reserve(coin_fare):
                account.count_ride(tap, coin_fare)
                trip.ask_coins(coin_fare)
        return Judged(trip, account), [trip, account]

    def _find(
        self, aggregate_id: UUID, kind: type[A], read: Mapping[UUID, Aggregate | None] | None
    ) -> A | None:
        if read is None or aggregate_id not in read:
            return self.store.find(aggregate_id, kind)
        return of_kind(aggregate_id, read[aggregate_id], kind)

    def _network(self, careful: bool) -> Network:
        """The network, read at most every ``network_seconds`` (campaigns are scheduled
        long before they start; a careful attempt always reads it)."""
        now = time.monotonic()
        cached = self._cached_network
        if careful or cached is None or cached[1] <= now:
            cached = (self.store.network(), now + self.policy.network_seconds)
            self._cached_network = cached
        return cached[0]

    async def _resolve(self, pass_token: str) -> object:
        try:
            found = await self.wallet.resolve_pass(pass_token)
        except WalletUnreachable as error:
            raise WalletDown("the wallet did not answer; send the tap again") from error
        return _UNKNOWN if found is None else found

    # --- step 2: ask the wallet ------------------------------------------------------------

    async def _collect(self, judged: Judged, pass_token: str) -> TripView:
        return await self._finish(judged, await self._spend(judged.trip, pass_token))

    def fare_ask(self, trip: Trip, pass_token: str) -> FareAsk:
        """What the wallet is asked for ``trip`` (its key derived from the trip's id)."""
        fare = trip.fare
        assert fare is not None
        return FareAsk(fare.coins, str(trip.id), pass_token, f"transit:fare:{trip.id}")

    async def _spend(self, trip: Trip, pass_token: str) -> WalletAnswer:
        ask = self.fare_ask(trip, pass_token)
        try:
            return await self.wallet.spend_fare(
                operator_id=self.operator_id,
                amount=ask.amount,
                reference=ask.reference,
                pass_token=ask.pass_token,
                key=ask.key,
            )
        except WalletUnreachable as error:
            raise WalletDown("the wallet did not answer; send the tap again") from error

    async def _finish(self, judged: Judged, answer: WalletAnswer) -> TripView:
        """Record the wallet's answer (an offline rider short of coins: the loss budget
        first)."""
        trip = judged.trip
        deny = False
        if trip.tap.offline and is_short(answer):
            try:
                answer, deny = await self._cover_offline(trip)
            except WalletUnreachable as error:
                raise WalletDown("the wallet did not answer; send the tap again") from error
        in_hand = None if judged.account is None else (trip, judged.account)

        def record(careful: bool) -> Trip:
            return self.record(trip.id, answer, deny=deny, known=None if careful else in_hand)

        done = await self._retrying(record)
        return trip_view(done, replayed=judged.replayed)

    async def _cover_offline(self, trip: Trip) -> tuple[WalletAnswer, bool]:
        """An offline rider's coins were gone by upload time: the loss budget pays the
        operator, within the pass's allowance. Returns the answer to record and whether the
        pass goes on the deny list."""
        fare = trip.fare
        assert fare is not None
        counted = await self._retrying(lambda _careful: self._count_shortfall(trip, fare.coins))
        if counted is None:
            return Refused("insufficient_funds", "over the offline allowance"), True
        answer = await self.wallet.cover_shortfall(
            programme=self.policy.loss_programme,
            operator_id=self.operator_id,
            wallet_id=counted,
            amount=fare.coins,
            reference=str(trip.id),
            key=f"transit:shortfall:{trip.id}",
        )
        if isinstance(answer, Moved):
            return Moved(answer.movement_id, counted, shortfall=fare.coins), False
        return Refused("insufficient_funds", answer.code), True

    def _count_shortfall(self, trip: Trip, coins: int) -> UUID | None:
        """Counts ``coins`` against the pass's allowance (before the wallet is asked, so two
        uploads at once cannot both use its last room); the rider's wallet, or None if the
        allowance has no room or the rider's wallet is not known."""
        account = self.store.find(pass_key(trip.tap.pass_digest), PassAccount)
        if account is None or account.wallet_id is None:
            return None
        if account.counted_shortfall(trip.id):
            return account.wallet_id
        if account.allowance_left(self.policy.offline_allowance) < coins:
            return None
        account.cover_shortfall(trip.id, coins)
        self.store.save(account)
        return account.wallet_id

    # --- step 3: record --------------------------------------------------------------------

    def record(
        self,
        trip_id: UUID,
        answer: WalletAnswer,
        *,
        deny: bool = False,
        known: tuple[Trip, PassAccount] | None = None,
    ) -> Trip:
        """The wallet's answer on a pending trip, recorded once (also from the wallet topic).
        ``known``: the trip and pass account as the judge saved them (if either moved on
        since, the save conflicts and the caller retries without them)."""
        trip, changed = self._answer(trip_id, answer, deny=deny, known=known)
        if changed:
            self.store.save(*changed)
        return trip

    def _answer(
        self,
        trip_id: UUID,
        answer: WalletAnswer,
        *,
        deny: bool = False,
        known: tuple[Trip, PassAccount] | None = None,
    ) -> tuple[Trip, list[Aggregate]]:
        if known is not None:
            trip, account = known
        else:
            found = self.store.find(trip_id, Trip)
            if found is None:
                raise TransitError(f"trip {trip_id} does not exist")
            trip = found
        if not trip.awaiting_wallet:
            return trip, []
        fare = trip.fare
        assert fare is not None
        if known is None:
            loaded = self.store.find(pass_key(trip.tap.pass_digest), PassAccount)
            assert loaded is not None
            account = loaded
        if isinstance(answer, Moved):
            wallet_id = answer.wallet_id or account.wallet_id
            assert wallet_id is not None
            trip.pay(wallet_id, fare, shortfall_covered=answer.shortfall)
            account.confirm(trip.id, wallet_id)
            return trip, [trip, account]
        reason = REFUSAL_REASONS.get(answer.code)
        if reason is None:  # not a rider's refusal: a bug or a misconfiguration, left pending
            raise WalletRefused(answer.code, f"the wallet refused the fare: {answer.detail}")
        network = self._network(careful=known is None)
        trip.decline(reason, network.baht_fare(trip.tap.fare_product), account.wallet_id)
        account.release(trip.id)
        if deny:
            now = self.clock.now()
            account.deny("offline_allowance_exceeded", now)
            deny_list = self.store.deny_list()
            deny_list.deny(
                account.pass_digest, "offline_allowance_exceeded", account.offline_shortfall, now
            )
            return trip, [trip, account, deny_list]
        return trip, [trip, account]

    async def _retrying(self, step: Callable[[bool], T]) -> T:
        """``step(careful)`` in a worker thread: first fast, then (after a conflict) reading
        everything again."""
        for attempt in range(ATTEMPTS):
            try:
                return await asyncio.to_thread(step, attempt > 0)
            except IntegrityError:
                continue  # another tap of the same pass saved first: decide again
        raise Contention("too many taps of this pass at once; send the tap again")


def is_short(answer: WalletAnswer) -> bool:
    return isinstance(answer, Refused) and answer.code == "insufficient_funds"
