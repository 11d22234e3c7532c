"""Taps in, fares out: the command that decides a tap, and the offline batch.

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
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from kgo_runtime.clock import Clock

from ..domain.errors import TransitError, WalletDown, WalletRefused
from ..domain.ids import pass_key
from ..domain.passes import PassAccount
from ..domain.taps import BahtOnly, Decline, DeclineReason, Reserve, Tap
from ..domain.trip import Trip
from .ports import Moved, Refused, WalletAnswer, WalletPort, WalletUnreachable
from .service import TransitApplication
from .views import TripView, trip_view

T = TypeVar("T")

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
    batch_concurrency: int = 8


@dataclass(frozen=True)
class TapRequest:
    tap: Tap
    pass_token: str


@dataclass(frozen=True)
class _NeedsWallet:
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

    # --- one tap ---------------------------------------------------------------------------

    async def tap(self, request: TapRequest) -> TripView:
        """Decide ``request`` (or find what was decided). Raises :class:`WalletDown` if the
        wallet did not answer: the trip stays pending and the same tap may be sent again."""
        tap = request.tap
        hint: object = None
        while True:
            step = await self._retrying(functools.partial(self._judge, tap, hint))
            if not isinstance(step, _NeedsWallet):
                break
            hint = await self._resolve(request.pass_token)
        trip, replayed = step
        if not trip.awaiting_wallet:
            return trip_view(trip, replayed=replayed)
        return await self._collect(trip, request.pass_token, replayed=replayed)

    async def upload(self, requests: Sequence[TapRequest]) -> list[TripView]:
        """An offline validator's batch: each pass's taps in tap-time order (so its cap and
        double-tap guard judge them as they happened), different passes concurrently. A tap
        the wallet could not be asked about now comes back ``pending``: send the batch again."""
        by_pass: dict[str, list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            by_pass[request.tap.pass_digest].append(index)
        answers: list[TripView | None] = [None] * len(requests)
        gate = asyncio.Semaphore(self.policy.batch_concurrency)

        async def one_pass(indexes: list[int]) -> None:
            async with gate:
                for index in sorted(indexes, key=lambda i: requests[i].tap.tapped_at):
                    try:
                        answers[index] = await self.tap(requests[index])
                    except (WalletDown, Contention):
                        answers[index] = TripView.pending_of(requests[index].tap)

        await asyncio.gather(*(one_pass(indexes) for indexes in by_pass.values()))
        return [answer for answer in answers if answer is not None]

    # --- step 1: judge ---------------------------------------------------------------------

    def _judge(self, tap: Tap, hint: object) -> tuple[Trip, bool] | _NeedsWallet:
        existing = self.store.find(tap.trip_id, Trip)
        if existing is not None:
            existing.same_tap(tap)
            return existing, True
        network = self.store.network()
        account = self.store.find(pass_key(tap.pass_digest), PassAccount)
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
                self.store.save(trip)
            case BahtOnly(baht):
                wallet_id = account.wallet_id or (hint if isinstance(hint, UUID) else None)
                if wallet_id is None and hint is None:
                    return _NeedsWallet()
                if wallet_id is None:
                    trip.decline(DeclineReason.PASS_UNKNOWN, baht)
                    self.store.save(trip)
                else:
                    account.count_ride(tap, baht)
                    account.confirm(trip.id, wallet_id)
                    trip.pay(wallet_id, baht)
                    self.store.save(trip, account)
            case Reserve(coin_fare):
                account.count_ride(tap, coin_fare)
                trip.ask_coins(coin_fare)
                self.store.save(trip, account)
        return trip, False

    async def _resolve(self, pass_token: str) -> object:
        try:
            found = await self.wallet.resolve_pass(pass_token)
        except WalletUnreachable as error:
            raise WalletDown("the wallet did not answer; send the tap again") from error
        return _UNKNOWN if found is None else found

    # --- step 2: ask the wallet ------------------------------------------------------------

    async def _collect(self, trip: Trip, pass_token: str, *, replayed: bool) -> TripView:
        fare = trip.fare
        assert fare is not None
        try:
            answer = await self.wallet.spend_fare(
                operator_id=self.operator_id,
                amount=fare.coins,
                reference=str(trip.id),
                pass_token=pass_token,
                key=f"transit:fare:{trip.id}",
            )
            deny = False
            if trip.tap.offline and _is_short(answer):
                answer, deny = await self._cover_offline(trip)
        except WalletUnreachable as error:
            raise WalletDown("the wallet did not answer; send the tap again") from error
        done = await self._retrying(lambda: self.record(trip.id, answer, deny=deny))
        return trip_view(done, replayed=replayed)

    async def _cover_offline(self, trip: Trip) -> tuple[WalletAnswer, bool]:
        """An offline rider's coins were gone by upload time: the loss budget pays the
        operator, within the pass's allowance. Returns the answer to record and whether the
        pass goes on the deny list."""
        fare = trip.fare
        assert fare is not None
        counted = await self._retrying(lambda: self._count_shortfall(trip, fare.coins))
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

    def record(self, trip_id: UUID, answer: WalletAnswer, *, deny: bool = False) -> Trip:
        """The wallet's answer on a pending trip, recorded once (also from the wallet topic)."""
        trip = self.store.find(trip_id, Trip)
        if trip is None:
            raise TransitError(f"trip {trip_id} does not exist")
        if not trip.awaiting_wallet:
            return trip
        fare = trip.fare
        assert fare is not None
        account = self.store.find(pass_key(trip.tap.pass_digest), PassAccount)
        assert account is not None
        if isinstance(answer, Moved):
            wallet_id = answer.wallet_id or account.wallet_id
            assert wallet_id is not None
            trip.pay(wallet_id, fare, shortfall_covered=answer.shortfall)
            account.confirm(trip.id, wallet_id)
            self.store.save(trip, account)
            return trip
        reason = REFUSAL_REASONS.get(answer.code)
        if reason is None:  # not a rider's refusal: a bug or a misconfiguration, left pending
            raise WalletRefused(answer.code, f"the wallet refused the fare: {answer.detail}")
        network = self.store.network()
        trip.decline(reason, network.baht_fare(trip.tap.fare_product), account.wallet_id)
        account.release(trip.id)
        if deny:
            now = self.clock.now()
            account.deny("offline_allowance_exceeded", now)
            deny_list = self.store.deny_list()
            deny_list.deny(
                account.pass_digest, "offline_allowance_exceeded", account.offline_shortfall, now
            )
            self.store.save(trip, account, deny_list)
        else:
            self.store.save(trip, account)
        return trip

    async def _retrying(self, step: Callable[[], T]) -> T:
        for _ in range(ATTEMPTS):
            try:
                return await asyncio.to_thread(step)
            except IntegrityError:
                continue  # another tap of the same pass saved first: decide again
        raise Contention("too many taps of this pass at once; send the tap again")


def _is_short(answer: WalletAnswer) -> bool:
    return isinstance(answer, Refused) and answer.code == "insufficient_funds"
