"""The Account aggregate: one balance, split into available and held coins.

Every balance-changing event states the balance right after it (``available_after``,
``held_after``); applying an event sets the balance from those figures, so a replay
reproduces exactly what was decided. Rules are checked before any event is triggered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from .errors import HoldNotFound, InsufficientFunds, Refused, WalletErased
from .signup_origin import SignupOrigin

ISSUER, MUNICIPALITY, BUDGET, RESIDENT, SHOP, OPERATOR = (
    "issuer",
    "municipality",
    "budget",
    "resident",
    "shop",
    "operator",
)
ACCOUNT_KINDS = (ISSUER, MUNICIPALITY, BUDGET, RESIDENT, SHOP, OPERATOR)
PAYEE_KINDS = (SHOP, OPERATOR)


class Account(Aggregate):
    TOPIC = "kgo.wallet.Account"

    class Created(Aggregate.Created):
        TOPIC = "kgo.wallet.Account.Created"

    class Opened(Aggregate.Created):
        TOPIC = "kgo.wallet.Account.Opened"
        kind: str
        programme: str | None
        label: str | None
        external_ref: str | None
        occurred_at: datetime
        #: An app sign-up's day-keyed origins (domain/signup_origin.py); absent from events
        #: stored before they existed, so they read as the class default.
        origin_network: str | None = None
        origin_device: str | None = None

    class Entry(Aggregate.Event):
        """Base of the balance-changing events; never triggered itself."""

        TOPIC = "kgo.wallet.Account.Entry"
        account_kind: str
        movement_id: UUID
        amount: int
        available_after: int
        held_after: int
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.available = self.available_after
            aggregate.held = self.held_after

    class SupplyMinted(Entry):
        TOPIC = "kgo.wallet.Account.SupplyMinted"
        total_supply: int

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.minted = True

    class CoinsTransferredOut(Entry):
        TOPIC = "kgo.wallet.Account.CoinsTransferredOut"
        counter_account_id: UUID
        counter_account_kind: str
        purpose: str
        memo: str | None

    class CoinsTransferredIn(Entry):
        TOPIC = "kgo.wallet.Account.CoinsTransferredIn"
        counter_account_id: UUID
        counter_account_kind: str
        purpose: str
        memo: str | None

    class GrantDisbursed(Entry):
        TOPIC = "kgo.wallet.Account.GrantDisbursed"
        counter_account_id: UUID
        counter_account_kind: str
        programme: str
        reason: str
        reference: str

    class CoinsGranted(Entry):
        TOPIC = "kgo.wallet.Account.CoinsGranted"
        counter_account_id: UUID
        counter_account_kind: str
        programme: str
        reason: str
        reference: str

    class GrantRefused(Aggregate.Event):
        TOPIC = "kgo.wallet.Account.GrantRefused"
        account_kind: str
        movement_id: UUID
        programme: str
        resident_account_id: UUID
        amount: int
        reason_code: str
        available: int
        reason: str
        reference: str
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            pass

    class CoinsSpent(Entry):
        TOPIC = "kgo.wallet.Account.CoinsSpent"
        counter_account_id: UUID
        counter_account_kind: str
        reference: str

    class PaymentReceived(Entry):
        TOPIC = "kgo.wallet.Account.PaymentReceived"
        counter_account_id: UUID
        counter_account_kind: str
        reference: str
        hold_id: UUID | None

    class CoinsHeld(Entry):
        TOPIC = "kgo.wallet.Account.CoinsHeld"
        hold_id: UUID
        payee_account_id: UUID
        expires_at: datetime
        reference: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.holds[str(self.hold_id)] = {
                "amount": self.amount,
                "payee": str(self.payee_account_id),
                "expires_at": self.expires_at,
                "reference": self.reference,
            }

    class HoldSettled(Entry):
        """Base of the events that take coins out of a hold."""

        TOPIC = "kgo.wallet.Account.HoldSettled"
        hold_id: UUID

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            key = str(self.hold_id)
            left = aggregate.holds[key]["amount"] - self.amount
            if left:
                aggregate.holds[key] = {**aggregate.holds[key], "amount": left}
            else:
                del aggregate.holds[key]

    class HoldCaptured(HoldSettled):
        TOPIC = "kgo.wallet.Account.HoldCaptured"
        counter_account_id: UUID
        counter_account_kind: str
        reference: str

    class HoldReleased(HoldSettled):
        TOPIC = "kgo.wallet.Account.HoldReleased"
        reason: str

    class HoldExpired(HoldSettled):
        TOPIC = "kgo.wallet.Account.HoldExpired"
        expires_at: datetime

    # --- circulation: coins flowing back from shops and the bus operator ------------------

    class RefundPaid(Entry):
        TOPIC = "kgo.wallet.Account.RefundPaid"
        counter_account_id: UUID
        counter_account_kind: str
        reference: str

    class CoinsRefunded(Entry):
        TOPIC = "kgo.wallet.Account.CoinsRefunded"
        counter_account_id: UUID
        counter_account_kind: str
        reference: str

    class RewardPaid(Entry):
        TOPIC = "kgo.wallet.Account.RewardPaid"
        counter_account_id: UUID
        counter_account_kind: str
        reference: str

    class CoinsRewarded(Entry):
        TOPIC = "kgo.wallet.Account.CoinsRewarded"
        counter_account_id: UUID
        counter_account_kind: str
        reference: str

    class SettlementPaid(Entry):
        TOPIC = "kgo.wallet.Account.SettlementPaid"
        counter_account_id: UUID
        counter_account_kind: str
        programme: str
        baht_satang: int
        payment_reference: str

    class CoinsSettled(Entry):
        TOPIC = "kgo.wallet.Account.CoinsSettled"
        counter_account_id: UUID
        counter_account_kind: str
        programme: str
        baht_satang: int
        payment_reference: str

    class ShortfallCovered(Entry):
        TOPIC = "kgo.wallet.Account.ShortfallCovered"
        counter_account_id: UUID
        counter_account_kind: str
        programme: str
        rider_account_id: UUID
        reference: str

    class ShortfallCompensated(Entry):
        TOPIC = "kgo.wallet.Account.ShortfallCompensated"
        counter_account_id: UUID
        counter_account_kind: str
        programme: str
        rider_account_id: UUID
        reference: str

    # --- erasure: the resident's personal data is gone; the wallet stays, pseudonymous ------

    class ResidentErased(Aggregate.Event):
        TOPIC = "kgo.wallet.Account.ResidentErased"
        account_kind: str
        reference: str
        balance_disposition: str
        coins_frozen: int
        occurred_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.erased = True

    #: Set by ResidentErased (a class default, so snapshots taken before it still load).
    erased: bool = False

    def __init__(
        self,
        kind: str,
        programme: str | None,
        label: str | None,
        external_ref: str | None,
        occurred_at: datetime,
        origin_network: str | None = None,  # published, not kept: the account needs neither
        origin_device: str | None = None,
    ) -> None:
        self.kind = kind
        self.programme = programme
        self.label = label
        self.external_ref = external_ref
        self.opened_at = occurred_at
        self.available = 0
        self.held = 0
        self.minted = False
        self.holds: dict[str, dict[str, Any]] = {}

    @classmethod
    def open(
        cls,
        account_id: UUID,
        kind: str,
        at: datetime,
        *,
        programme: str | None = None,
        label: str | None = None,
        external_ref: str | None = None,
        origin: SignupOrigin | None = None,
    ) -> Account:
        if kind not in ACCOUNT_KINDS:
            raise Refused(f"unknown account kind {kind!r}", code="invalid_account_kind", status=422)
        return cls._create(
            cls.Opened,
            id=account_id,
            kind=kind,
            programme=programme,
            label=label,
            external_ref=external_ref,
            occurred_at=at,
            origin_network=origin.network if origin else None,
            origin_device=origin.device if origin else None,
        )

    # --- rules -----------------------------------------------------------------------------

    def require_active(self) -> None:
        """An erased resident's wallet is frozen: no coin moves in or out of it."""
        if self.erased:
            raise WalletErased("this wallet's resident was erased; the wallet moves no coins")

    def require_erasable(self) -> None:
        if self.kind != RESIDENT:
            raise Refused("only a resident's wallet can be erased", code="wrong_account_kind",
                          status=422)  # fmt: skip
        self.require_active()
        if self.held:
            raise Refused(
                "the wallet has open holds; erase it once they are captured, released or expired",
                code="holds_open",
            )

    def erase(self, *, reference: str, returned: bool, at: datetime) -> None:
        self.require_erasable()
        self.trigger_event(
            self.ResidentErased,
            account_kind=self.kind,
            reference=reference,
            balance_disposition="returned" if returned else "frozen",
            coins_frozen=0 if returned else self.available,
            occurred_at=at,
        )

    def require_available(self, amount: int) -> None:
        if amount > self.available:
            # No figure: the answer reaches callers who may not read this balance.
            raise InsufficientFunds("not enough coins for this")

    def hold(self, hold_id: UUID) -> dict[str, Any]:
        try:
            return self.holds[str(hold_id)]
        except KeyError:
            raise HoldNotFound(f"no open hold {hold_id} on this wallet") from None

    # --- entries ----------------------------------------------------------------------------

    def record(
        self, event_class: type[Entry], amount: int, d_available: int, d_held: int, **fields: Any
    ) -> None:
        """Trigger a balance-changing event moving ``amount`` by the given signs.
        Callers check the rules first; this only refuses what would break the ledger."""
        available = self.available + d_available * amount
        held = self.held + d_held * amount
        if amount <= 0 or available < 0 or held < 0:
            raise InsufficientFunds(f"an entry of {amount} coins would overdraw the account")
        self.trigger_event(
            event_class,
            account_kind=self.kind,
            amount=amount,
            available_after=available,
            held_after=held,
            **fields,
        )

    def refuse_grant(self, **fields: Any) -> None:
        self.trigger_event(self.GrantRefused, account_kind=self.kind, **fields)
