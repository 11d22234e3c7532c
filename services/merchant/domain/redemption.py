"""A redemption: a resident pays part of a bill at a till with coins.

Its life: ``started`` (the shop's rules priced it) -> ``held`` (the wallet set the coins
aside; now the resident's wallet is known) -> ``redeemed`` (captured: ``DiscountRedeemed``)
or ``declined`` (a stable reason code) at any step before; a redeemed one may be ``voided``
within the void window (the coins go back by a refund).

The id is derived from the shop and the till's idempotency key, and every wallet call made
for it carries a key derived from the id: a retry at any hop, or a restart, lands once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .authorisation import PAYMENT_CODE, PaymentCode
from .errors import MerchantError, VoidRefused
from .shops import ShopRules

STARTED, HELD, REDEEMED, DECLINED, VOIDED = "started", "held", "redeemed", "declined", "voided"
FINISHED = frozenset((REDEEMED, DECLINED, VOIDED))


class Declined(MerchantError):
    """A redemption the rules or the wallet refuse; ``code`` is the till's reason code."""


@dataclass(frozen=True)
class Price:
    coins: int
    discount_satang: int


def price(rules: ShopRules, *, bill_satang: int, coins: int) -> Price:
    """What ``coins`` are worth on this bill under the shop's rules, or a decline."""
    if bill_satang <= 0 or coins <= 0:
        # Refused, not declined: a redemption of nothing is never recorded (nor published).
        raise MerchantError("the bill and the coins must be positive", code="invalid_amount")
    discount = coins * rules.coin_value_satang
    if discount * 100 > bill_satang * rules.max_coin_share_percent:
        raise Declined(
            f"coins may pay at most {rules.max_coin_share_percent}% of a bill here",
            code="coin_share_exceeded",
        )
    if rules.cap_per_bill_coins is not None and coins > rules.cap_per_bill_coins:
        raise Declined(
            f"at most {rules.cap_per_bill_coins} coins per bill here", code="bill_cap_exceeded"
        )
    return Price(coins, discount)


def void_deadline(redeemed_at: datetime, window_seconds: int | None) -> datetime:
    """Until when a redemption may be voided: ``window_seconds`` after it, or (None) the end
    of its Bangkok day."""
    if window_seconds is not None:
        return redeemed_at + timedelta(seconds=window_seconds)
    next_day = redeemed_at.date() + timedelta(days=1)
    return datetime.combine(next_day, time(0), tzinfo=redeemed_at.tzinfo)


class Redemption(Aggregate):
    TOPIC = "kgo.merchant.Redemption"

    class Created(Aggregate.Created):
        TOPIC = "kgo.merchant.Redemption.Created"

    class Started(Aggregate.Created):
        TOPIC = "kgo.merchant.Redemption.Started"
        shop_id: UUID
        till_id: UUID
        payee_account_id: UUID
        bill_satang: int
        coins: int
        discount_satang: int
        request_hash: str
        #: Kept (internal, never published) so a restart can repeat the hold call exactly;
        #: single-use and worthless within two minutes. Empty for a card: its number and
        #: PIN are never stored.
        payment_code: str
        occurred_at: datetime
        #: The wallet the till named, if any: a code of another wallet is then refused.
        named_wallet_id: UUID | None = None
        #: ``payment_code`` or ``card`` (events stored before cards paid are codes).
        instrument: str = PAYMENT_CODE

    class HoldPlaced(Aggregate.Event):
        TOPIC = "kgo.merchant.Redemption.HoldPlaced"
        hold_id: UUID
        wallet_id: UUID
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.hold_id, aggregate.wallet_id = self.hold_id, self.wallet_id
            aggregate.status = HELD

    class Finished(Aggregate.Event):
        """Base of the events that are published: each carries the redemption's facts, since
        the relay maps one stored event at a time."""

        TOPIC = "kgo.merchant.Redemption.Finished"
        shop_id: UUID
        wallet_id: UUID | None
        hold_id: UUID | None
        coins: int
        discount_satang: int
        bill_satang: int

    class Redeemed(Finished):
        TOPIC = "kgo.merchant.Redemption.Redeemed"
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status, aggregate.redeemed_at = REDEEMED, self.occurred_at

    class Declined(Finished):
        TOPIC = "kgo.merchant.Redemption.Declined"
        reason_code: str
        reason: str
        occurred_at: datetime
        #: ``pin_incorrect``: wrong PINs left before the wallet locks the card (internal:
        #: the till's answer repeats it; not published).
        attempts_left: int | None = None

        def apply(self, aggregate: Any) -> None:
            aggregate.status, aggregate.reason_code = DECLINED, self.reason_code
            aggregate.reason, aggregate.attempts_left = self.reason, self.attempts_left

    class Voided(Finished):
        TOPIC = "kgo.merchant.Redemption.Voided"
        movement_id: UUID
        voided_by: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status, aggregate.void_movement_id = VOIDED, self.movement_id
            aggregate.voided_at = self.occurred_at

    def __init__(
        self,
        shop_id: UUID,
        till_id: UUID,
        payee_account_id: UUID,
        bill_satang: int,
        coins: int,
        discount_satang: int,
        request_hash: str,
        payment_code: str,
        occurred_at: datetime,
        named_wallet_id: UUID | None = None,
        instrument: str = PAYMENT_CODE,
    ) -> None:
        self.shop_id, self.till_id, self.payee_account_id = shop_id, till_id, payee_account_id
        self.bill_satang, self.coins, self.discount_satang = bill_satang, coins, discount_satang
        self.request_hash, self.payment_code = request_hash, payment_code
        self.named_wallet_id, self.instrument = named_wallet_id, instrument
        self.started_at = occurred_at
        self.status = STARTED
        self.hold_id: UUID | None = None
        self.wallet_id: UUID | None = None
        self.redeemed_at: datetime | None = None
        self.voided_at: datetime | None = None
        self.void_movement_id: UUID | None = None
        self.reason_code: str | None = None
        self.reason: str | None = None
        self.attempts_left: int | None = None

    @classmethod
    def start(
        cls,
        redemption_id: UUID,
        *,
        shop_id: UUID,
        till_id: UUID,
        payee: UUID,
        bill_satang: int,
        coins: int,
        discount_satang: int,
        request_hash: str,
        payment_code: str,
        at: datetime,
        named_wallet_id: UUID | None = None,
        instrument: str = PAYMENT_CODE,
    ) -> Redemption:
        return cls._create(
            cls.Started,
            id=redemption_id,
            shop_id=shop_id,
            till_id=till_id,
            payee_account_id=payee,
            bill_satang=bill_satang,
            coins=coins,
            discount_satang=discount_satang,
            request_hash=request_hash,
            payment_code=payment_code,
            occurred_at=at,
            named_wallet_id=named_wallet_id,
            instrument=instrument,
        )

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def stored_authorisation(self) -> PaymentCode | None:
        """The authorisation a restart can repeat: a payment code; None for a card."""
        return PaymentCode(self.payment_code) if self.instrument == PAYMENT_CODE else None

    def place_hold(self, hold_id: UUID, wallet_id: UUID, *, at: datetime) -> None:
        if self.status != STARTED:
            raise MerchantError(f"a {self.status} redemption takes no hold", code="wrong_state")
        self.trigger_event(self.HoldPlaced, hold_id=hold_id, wallet_id=wallet_id, occurred_at=at)

    def redeem(self, *, at: datetime) -> None:
        if self.status != HELD:
            raise MerchantError(
                f"a {self.status} redemption cannot be redeemed", code="wrong_state"
            )
        self.trigger_event(self.Redeemed, occurred_at=at, **self._facts())

    def decline(
        self, code: str, reason: str, *, at: datetime, attempts_left: int | None = None
    ) -> None:
        if self.finished:
            raise MerchantError(
                f"a {self.status} redemption cannot be declined", code="wrong_state"
            )
        self.trigger_event(
            self.Declined, reason_code=code, reason=reason, occurred_at=at,
            attempts_left=attempts_left, **self._facts(),
        )  # fmt: skip

    def require_voidable(self, *, at: datetime, window_seconds: int | None) -> None:
        if self.status != REDEEMED or self.redeemed_at is None:
            raise VoidRefused(f"a {self.status} redemption cannot be voided", code="not_redeemed")
        deadline = void_deadline(self.redeemed_at, window_seconds)
        if at >= deadline:
            raise VoidRefused(
                f"the void window closed at {deadline.isoformat()}", code="void_window_closed"
            )

    def void(self, movement_id: UUID, *, by: str, at: datetime) -> None:
        if self.status != REDEEMED:
            raise VoidRefused(f"a {self.status} redemption cannot be voided", code="not_redeemed")
        self.trigger_event(
            self.Voided, movement_id=movement_id, voided_by=by, occurred_at=at, **self._facts()
        )

    def _facts(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            "wallet_id": self.wallet_id,
            "hold_id": self.hold_id,
            "coins": self.coins,
            "discount_satang": self.discount_satang,
            "bill_satang": self.bill_satang,
        }
