"""Paying at the till: price the bill under the shop's rules, hold the coins with the
resident's authorisation (a payment code, or a card and its PIN), capture them, record
``DiscountRedeemed``. And voids.

It is saved as started before the wallet is called, and every wallet call carries a key
derived from the redemption id, so :meth:`Redemptions.resume` can finish any redemption from
where it stopped (after a crash, a timeout, or from the wallet topic) without taking a coin
twice: a repeated call is answered with its first answer. The hold is saved on its own when
the daily cap must be counted before the capture, and always for a card.

A card's number and PIN are never stored, so nothing but the till's own retry can repeat a
card's hold call. A card redemption therefore saves its hold before it asks for the capture:
one still ``started`` proves no capture was asked, and finishing it without the till
(:meth:`Redemptions.resume`) declines it ``redemption_interrupted``; a hold the wallet placed
meanwhile is released when its ``CoinsHeld`` is read (:meth:`held_at_wallet`), or expires.
A ``CoinsHeld`` read while the redemption is still open completes it instead.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from kgo_runtime.clock import Clock

from ..domain import ids
from ..domain.authorisation import CARD, GUESSES, Authorisation, CardAndPin, PaymentCode
from ..domain.errors import (
    IdempotencyConflict,
    InProgress,
    MerchantError,
    RedemptionNotFound,
    ShopNotActive,
    ShopNotFound,
)
from ..domain.redemption import DECLINED, HELD, STARTED, VOIDED, Declined, Redemption, price
from ..domain.shops import Shop
from .answers import Answer, TillLocked, redemption_answer
from .daily_cap import DailyCap
from .ports import Crash, Fingerprint, GuessLimiter, NoCrash, WalletDown, WalletPort, WalletRefused
from .store import Conflict, Store, request_hash

#: How often one call decides again after losing a race to another writer.
MAX_ATTEMPTS = 8
INTERRUPTED = "redemption_interrupted"


@dataclass(frozen=True)
class Policy:
    """The municipality's settings for redemptions."""

    #: None: a redemption may be voided until the end of its Bangkok day.
    void_window_seconds: int | None = None
    #: Most coins one resident may redeem per Bangkok day (None: no cap).
    daily_cap_coins: int | None = None
    #: After how long a card redemption still ``started`` is taken for abandoned by its till
    #: (longer than any wallet call the till's request may still be waiting on).
    card_abandon_seconds: float = 60.0


@dataclass(frozen=True)
class Till:
    """The till a request comes from (its credential is bound to this shop)."""

    shop_id: UUID
    till_id: UUID


class Redemptions:
    def __init__(
        self,
        store: Store,
        wallet: WalletPort,
        limiter: GuessLimiter,
        clock: Clock,
        policy: Policy | None = None,
        crash: Crash | None = None,
        fingerprint: Fingerprint | None = None,
    ) -> None:
        self._store, self._wallet, self._limiter = store, wallet, limiter
        self._clock, self._policy, self._crash = clock, policy or Policy(), crash or NoCrash()
        self._fingerprint = fingerprint or _ephemeral_fingerprint()
        self._cap = DailyCap(store, self._policy.daily_cap_coins)

    async def redeem(
        self, till: Till, key: str, *, authorisation: Authorisation, bill_satang: int,
        coins: int, wallet_id: UUID | None = None,
    ) -> Answer:  # fmt: skip
        """``wallet_id``: the customer's wallet if the till knows it; a code or card that
        belongs to another wallet is then declined (``payment_code_invalid``,
        ``card_invalid``)."""
        rid = ids.redemption_id(till.shop_id, key)
        fields = {"auth": self._secret_of(authorisation), "bill": bill_satang, "coins": coins,
                  "wallet": wallet_id}  # fmt: skip
        digest = request_hash("redeem", fields)
        for _ in range(MAX_ATTEMPTS):
            found = await self._store.get(rid, Redemption)
            if found is not None:
                if found.request_hash != digest:
                    raise IdempotencyConflict("this key was used for another redemption")
                if found.finished:
                    return redemption_answer(found, replayed=True)
                return (await self._drive(found, authorisation)).again()
            wait = await self._limiter.retry_after(till.till_id)
            if wait is not None:
                raise TillLocked(wait)
            redemption = await self._start(
                rid, till, digest, authorisation, bill_satang, coins, wallet_id
            )
            try:
                await self._store.save(redemption)
            except Conflict:
                continue
            if redemption.finished:
                return redemption_answer(redemption)
            return await self._drive(redemption, authorisation)
        raise InProgress("this redemption is being decided; retry with the same key")

    def _secret_of(self, authorisation: Authorisation) -> str:
        """What tells two requests apart in the request hash: the payment code itself (it is
        stored anyway), a card only as its keyed fingerprint."""
        if isinstance(authorisation, CardAndPin):
            return "card:" + self._fingerprint("card", authorisation.card_number,
                                               authorisation.pin)  # fmt: skip
        return authorisation.code

    async def _start(
        self, rid: UUID, till: Till, digest: str, auth: Authorisation, bill: int, coins: int,
        named: UUID | None = None,
    ) -> Redemption:  # fmt: skip
        shop = await self._store.get(till.shop_id, Shop)
        if shop is None:
            raise ShopNotFound(f"no shop {till.shop_id}")
        at = self._clock.now()
        decline: MerchantError | None = None
        discount = 0
        try:
            shop.require_active()
            discount = price(shop.rules, bill_satang=bill, coins=coins).discount_satang
        except (Declined, ShopNotActive) as refused:
            decline = refused
        redemption = Redemption.start(
            rid, shop_id=shop.id, till_id=till.till_id, payee=shop.payee_account_id,
            bill_satang=bill, coins=coins, discount_satang=discount, request_hash=digest,
            payment_code=auth.code if isinstance(auth, PaymentCode) else "", at=at,
            named_wallet_id=named, instrument=auth.kind,
        )  # fmt: skip
        if decline is not None:
            redemption.decline(decline.code, decline.reason, at=at)
        return redemption

    async def resume(self, redemption_id: UUID) -> Answer | None:
        """Finish an unfinished redemption (restart recovery); None if there is no such. A
        card redemption still ``started`` is declined: its PIN is gone with the request."""
        found = await self._store.get(redemption_id, Redemption)
        if found is None:
            return None
        if found.status == STARTED and found.stored_authorisation is None:
            age = (self._clock.now() - found.started_at).total_seconds()
            if age < self._policy.card_abandon_seconds:
                return redemption_answer(found)  # its till may still be waiting on the wallet
        return await self._drive(found)

    async def _drive(self, r: Redemption, presented: Authorisation | None = None) -> Answer:
        """``presented``: the authorisation of the till's request in hand (None: recovery)."""
        for _ in range(MAX_ATTEMPTS):
            try:
                if r.status == STARTED:
                    await self._hold(r, presented or r.stored_authorisation)
                elif r.status == HELD:
                    await self._capture(r)
                else:
                    return redemption_answer(r)
            except Conflict:
                reloaded = await self._store.get(r.id, Redemption)
                assert reloaded is not None
                r = reloaded
        raise InProgress("this redemption is being decided; retry with the same key")

    async def _hold(self, r: Redemption, authorisation: Authorisation | None) -> None:
        if authorisation is None:
            reason = "the till's request ended before the wallet's answer; pay again"
            r.decline(INTERRUPTED, reason, at=self._clock.now())
            await self._store.save(r)
            return
        try:
            hold = await self._wallet.hold(
                payee=r.payee_account_id, amount=r.coins, reference=str(r.id),
                authorisation=authorisation, wallet_id=r.named_wallet_id,
                key=ids.wallet_key(r.id, "hold"),
            )  # fmt: skip
        except WalletRefused as refused:
            if refused.code in GUESSES:
                await self._limiter.wrong_code(r.till_id)
            r.decline(refused.code, refused.detail or "the wallet refused", at=self._clock.now(),
                      attempts_left=refused.attempts_left)  # fmt: skip
            await self._store.save(r)
            return
        at = self._clock.now()
        allowed, day = await self._cap.count(r, hold.wallet_id, at)
        if not allowed:
            await self._wallet.release(
                wallet_id=hold.wallet_id, hold_id=hold.hold_id, payee=r.payee_account_id,
                key=ids.wallet_key(r.id, "release"),
            )  # fmt: skip
            r.place_hold(hold.hold_id, hold.wallet_id, at=at)
            r.decline("daily_cap_reached", "the resident's daily cap is reached", at=at)
            await self._store.save(r)
            return
        r.place_hold(hold.hold_id, hold.wallet_id, at=at)
        if day is None and r.instrument != CARD:
            # No daily cap: nothing to decide between hold and capture, so the capture follows
            # at once and both are saved together. A crash in between leaves it `started`,
            # and finishing it repeats the hold call, which the wallet answers as the first.
            await self._capture(r)
            return
        await self._store.save(r, *([] if day is None else [day]))

    async def _capture(self, r: Redemption) -> None:
        assert r.wallet_id is not None and r.hold_id is not None
        try:
            await self._wallet.capture(
                wallet_id=r.wallet_id, hold_id=r.hold_id, payee=r.payee_account_id,
                amount=r.coins, key=ids.wallet_key(r.id, "capture"),
            )  # fmt: skip
        except WalletRefused as refused:
            r.decline(refused.code, refused.detail or "the wallet refused", at=self._clock.now())
            await self._store.save(r, *await self._cap.uncount(r))
            return
        self._crash.point("after_capture")
        r.redeem(at=self._clock.now())
        await self._store.save(r)

    async def captured_at_wallet(
        self, reference: str, *, hold_id: UUID, wallet_id: UUID, at: datetime
    ) -> bool:
        """The wallet captured a hold for ``reference``: if it is one of ours still open,
        record the redemption now. True if something was recorded."""
        try:
            rid = UUID(reference)
        except ValueError:
            return False
        for _ in range(MAX_ATTEMPTS):
            r = await self._store.get(rid, Redemption)
            if r is None or r.finished:
                return False
            if r.status == STARTED:
                r.place_hold(hold_id, wallet_id, at=at)
            r.redeem(at=at)
            try:
                await self._store.save(r)
            except Conflict:
                continue
            return True
        raise InProgress(f"redemption {rid} keeps changing")

    async def held_at_wallet(
        self, reference: str, *, hold_id: UUID, wallet_id: UUID, at: datetime
    ) -> bool:
        """The wallet placed a hold for ``reference``. A card redemption of ours still
        ``started`` (its till's request ended before the answer was saved) takes it and is
        completed; one declined before it learned of the hold gives it back at once. True if
        something was recorded or released."""
        try:
            rid = UUID(reference)
        except ValueError:
            return False
        for _ in range(MAX_ATTEMPTS):
            r = await self._store.get(rid, Redemption)
            if r is None or r.instrument != CARD:
                return False
            if r.status == DECLINED and r.hold_id is None:
                return await self._give_back(r, hold_id, wallet_id)
            if r.status != STARTED:
                return False
            r.place_hold(hold_id, wallet_id, at=at)
            try:
                await self._store.save(r)
            except Conflict:
                continue
            with contextlib.suppress(WalletDown):  # held and saved: the recoverer captures it
                await self._drive(r)
            return True
        raise InProgress(f"redemption {rid} keeps changing")

    async def _give_back(self, r: Redemption, hold_id: UUID, wallet_id: UUID) -> bool:
        try:
            await self._wallet.release(
                wallet_id=wallet_id, hold_id=hold_id, payee=r.payee_account_id,
                key=ids.wallet_key(r.id, "release"),
            )  # fmt: skip
        except (WalletRefused, WalletDown):
            return False  # gone already, or the wallet is away: the hold expires anyway
        return True

    async def get(self, redemption_id: UUID, *, shop_id: UUID | None) -> Answer:
        r = await self._store.get(redemption_id, Redemption)
        if r is None or (shop_id is not None and r.shop_id != shop_id):
            raise RedemptionNotFound(f"no redemption {redemption_id}")
        answer = redemption_answer(r)
        return Answer(200, answer.body)

    async def void(self, redemption_id: UUID, *, by: str, shop_id: UUID | None) -> Answer:
        """Give the coins back (a recorded refund) and record ``RedemptionVoided``. Voiding a
        voided redemption answers the first void again."""
        for _ in range(MAX_ATTEMPTS):
            r = await self._store.get(redemption_id, Redemption)
            if r is None or (shop_id is not None and r.shop_id != shop_id):
                raise RedemptionNotFound(f"no redemption {redemption_id}")
            if r.status == VOIDED:
                return Answer(200, redemption_answer(r).body, replayed=True)
            at = self._clock.now()
            r.require_voidable(at=at, window_seconds=self._policy.void_window_seconds)
            assert r.wallet_id is not None
            try:
                movement = await self._wallet.refund(
                    payee=r.payee_account_id, wallet_id=r.wallet_id, amount=r.coins,
                    reference=str(r.id), key=ids.wallet_key(r.id, "refund"),
                )  # fmt: skip
            except WalletRefused as refused:
                raise MerchantError(refused.detail or "the wallet refused the refund",
                                    code=refused.code) from refused  # fmt: skip
            r.void(movement, by=by, at=at)
            try:
                await self._store.save(r, *await self._cap.uncount(r))
            except Conflict:
                continue
            return Answer(200, redemption_answer(r).body)
        raise InProgress("this redemption is changing; retry")


def _ephemeral_fingerprint() -> Fingerprint:
    """A fingerprint under a key of this process only (tests): a card retry after a restart
    would not match its first request."""
    key = secrets.token_bytes(32)
    return lambda *parts: hmac.new(key, ":".join(parts).encode(), "sha256").hexdigest()
