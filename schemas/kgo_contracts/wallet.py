"""Events on ``kgo.wallet.events``: the ledger, one record per account entry.

Every record concerns exactly one account (``account_id``, also the Kafka key), so one
account's records stay in order on one partition. A movement between two accounts is two
records sharing a ``movement_id``: the debit leg on the payer, the credit leg on the payee,
both stored in one transaction. ``available_after`` and ``held_after`` give the account's
balance right after the entry, so a subscriber can check its own fold record by record.
See ``schemas/README.md`` for the fold.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from . import topics
from .base import AccountKind, BusinessTime, CoinBalance, Coins, ContractEvent, Satang, Text


class WalletEvent(ContractEvent):
    topic: ClassVar[str] = topics.WALLET
    key_field: ClassVar[str] = "account_id"

    account_id: UUID = Field(description="The account this record is about (pseudonymous).")
    account_kind: AccountKind
    account_version: int = Field(
        strict=True,
        ge=1,
        description="This record's position in the account's own history: 1 for "
        "AccountOpened, then consecutive. A gap means a record was missed.",
    )
    occurred_at: BusinessTime


class AccountOpened(WalletEvent):
    """An account was opened. Residents appear by pseudonymous id only, never by name."""

    wire_name: ClassVar[str] = "kgo.wallet.AccountOpened"

    programme: str | None = Field(
        default=None, description="For a programme budget: its programme code, e.g. 'welcome'."
    )
    label: str | None = Field(
        default=None,
        description="A public label for issuer, municipality, budget, shop or bus operator "
        "accounts; always null for residents.",
    )
    external_ref: str | None = Field(
        default=None,
        description="The owning service's id for a shop or bus operator (merchant/transit).",
    )
    origin_network: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{32}$",
        description="For a resident who signed up in the app: a pseudonym of the network the "
        "sign-up came from (its IPv4 /24 or IPv6 /56), keyed by the wallet with a key of the "
        "Bangkok day, so it is the same for sign-ups from one network on one day and links "
        "nothing across days; nobody without the wallet's key can tell the network. Null "
        "otherwise (and for wallets opened before it existed).",
    )
    origin_device: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{32}$",
        description="Like origin_network, of the device id the app sent (header X-KGO-Device) "
        "when it did; null otherwise.",
    )


class LedgerEntry(WalletEvent):
    """An entry that changes the account's balance."""

    movement_id: UUID = Field(description="Shared by the two legs of one movement.")
    amount: Coins
    available_after: CoinBalance
    held_after: CoinBalance


class LegWithCounterparty(LedgerEntry):
    counter_account_id: UUID
    counter_account_kind: AccountKind


class SupplyMinted(LedgerEntry):
    """The fixed supply was minted to the issuer. Happens exactly once; no debit side."""

    wire_name: ClassVar[str] = "kgo.wallet.SupplyMinted"

    total_supply: Coins


class CoinsTransferredOut(LegWithCounterparty):
    """Treasury debit leg: coins left an issuer, municipality or budget account."""

    wire_name: ClassVar[str] = "kgo.wallet.CoinsTransferredOut"

    purpose: Literal["genesis", "allocation", "return"]
    memo: Text | None = None


class CoinsTransferredIn(LegWithCounterparty):
    """Treasury credit leg: coins arrived at a municipality or budget account."""

    wire_name: ClassVar[str] = "kgo.wallet.CoinsTransferredIn"

    purpose: Literal["genesis", "allocation", "return"]
    memo: Text | None = None


class GrantDisbursed(LegWithCounterparty):
    """Debit leg of a grant, on the programme budget."""

    wire_name: ClassVar[str] = "kgo.wallet.GrantDisbursed"

    programme: str
    reason: Text
    reference: Text


class CoinsGranted(LegWithCounterparty):
    """Credit leg of a grant: a resident received coins from a programme budget."""

    wire_name: ClassVar[str] = "kgo.wallet.CoinsGranted"

    programme: str
    reason: Text
    reference: Text = Field(description="The caller's reference, e.g. a mission completion id.")


class GrantRefused(WalletEvent):
    """A grant was refused; recorded on the budget so that nothing is silently dropped."""

    wire_name: ClassVar[str] = "kgo.wallet.GrantRefused"

    movement_id: UUID
    programme: str
    resident_account_id: UUID
    amount: Coins
    reason_code: Literal["budget_exhausted"]
    available: CoinBalance = Field(description="The budget's available coins at the decision.")
    reason: Text
    reference: Text


class CoinsSpent(LegWithCounterparty):
    """Debit leg of a direct spend, on the resident."""

    wire_name: ClassVar[str] = "kgo.wallet.CoinsSpent"

    reference: Text = Field(description="The caller's redemption or trip id.")


class PaymentReceived(LegWithCounterparty):
    """Credit leg of a spend or a captured hold, on the shop or bus operator."""

    wire_name: ClassVar[str] = "kgo.wallet.PaymentReceived"

    reference: Text
    hold_id: UUID | None = Field(default=None, description="Set when the payment captured a hold.")


class CoinsHeld(LedgerEntry):
    """Coins moved from available to held on a resident, pending capture or release."""

    wire_name: ClassVar[str] = "kgo.wallet.CoinsHeld"

    hold_id: UUID
    payee_account_id: UUID
    expires_at: BusinessTime
    reference: Text


class HoldCaptured(LegWithCounterparty):
    """Held coins left the resident for the payee (credit leg: PaymentReceived)."""

    wire_name: ClassVar[str] = "kgo.wallet.HoldCaptured"

    hold_id: UUID
    reference: Text


class HoldReleased(LedgerEntry):
    """Held coins went back to available: released by the payee, or what a partial capture
    left over."""

    wire_name: ClassVar[str] = "kgo.wallet.HoldReleased"

    hold_id: UUID
    reason: Literal["released", "capture_remainder"]


class HoldExpired(LedgerEntry):
    """An unanswered hold passed its expiry and its coins went back to available."""

    wire_name: ClassVar[str] = "kgo.wallet.HoldExpired"

    hold_id: UUID
    expires_at: BusinessTime


# --- circulation: coins flowing on from shops and the bus operator ---------------------------


class RefundPaid(LegWithCounterparty):
    """Debit leg of a refund, on the shop or bus operator: coins went back to a resident
    (e.g. for a voided redemption; credit leg: CoinsRefunded)."""

    wire_name: ClassVar[str] = "kgo.wallet.RefundPaid"

    reference: Text = Field(description="The caller's reference, e.g. the voided redemption.")


class CoinsRefunded(LegWithCounterparty):
    """Credit leg of a refund: a resident got coins back from a shop or the bus operator."""

    wire_name: ClassVar[str] = "kgo.wallet.CoinsRefunded"

    reference: Text


class RewardPaid(LegWithCounterparty):
    """Debit leg of a reward a shop (or the bus operator) paid a resident from its own
    balance (credit leg: CoinsRewarded). A reward from a matching budget is a grant."""

    wire_name: ClassVar[str] = "kgo.wallet.RewardPaid"

    reference: Text


class CoinsRewarded(LegWithCounterparty):
    """Credit leg of a reward: a resident received coins from a shop's own balance."""

    wire_name: ClassVar[str] = "kgo.wallet.CoinsRewarded"

    reference: Text


class SettlementPaid(LegWithCounterparty):
    """Debit leg of a settlement, on the shop or bus operator: coins went back to a programme
    budget, which pays ``baht_satang`` for them outside KGO (credit leg: CoinsSettled)."""

    wire_name: ClassVar[str] = "kgo.wallet.SettlementPaid"

    programme: str = Field(description="The programme budget the coins went back to.")
    baht_satang: Satang = Field(description="Baht (in satang) the programme pays for them.")
    payment_reference: Text = Field(description="The programme's reference of that payment.")


class CoinsSettled(LegWithCounterparty):
    """Credit leg of a settlement: coins came back to a programme budget from a shop or the
    bus operator, for baht paid outside KGO."""

    wire_name: ClassVar[str] = "kgo.wallet.CoinsSettled"

    programme: str
    baht_satang: Satang
    payment_reference: Text


class ShortfallCovered(LegWithCounterparty):
    """Debit leg of a covered shortfall, on a loss budget (e.g. 'offline-loss'): it paid the
    bus operator a fare an offline rider's wallet no longer held (credit leg:
    ShortfallCompensated)."""

    wire_name: ClassVar[str] = "kgo.wallet.ShortfallCovered"

    programme: str
    rider_account_id: UUID = Field(
        description="The wallet whose offline fare could not be collected (it is not debited)."
    )
    reference: Text = Field(description="The trip the fare was for.")


class ShortfallCompensated(LegWithCounterparty):
    """Credit leg of a covered shortfall: the bus operator received from a loss budget the
    fare an offline rider could not pay."""

    wire_name: ClassVar[str] = "kgo.wallet.ShortfallCompensated"

    programme: str
    rider_account_id: UUID
    reference: Text


class ResidentErased(WalletEvent):
    """A resident was erased at their request (Thailand's PDPA): their personal data is
    destroyed in the wallet (the key that sealed it is gone). The account, its balance and
    every record stay, pseudonymous. Subscribers holding anything about this ``account_id``
    beyond the ledger (a research extract, a mailing list) should drop it. After this record
    the account moves no coin; ``coins_frozen`` are the coins left in it."""

    wire_name: ClassVar[str] = "kgo.wallet.ResidentErased"

    reference: Text = Field(
        description="The erasure request's reference (a case number, never personal data)."
    )
    balance_disposition: Literal["frozen", "returned"] = Field(
        description="frozen: the coins stay in the account, which moves nothing any more; "
        "returned: they went back to the municipality just before (a CoinsTransferredOut, "
        "purpose return)."
    )
    coins_frozen: CoinBalance = Field(
        description="The coins left in the account (0 when they were returned)."
    )


WALLET_EVENTS: tuple[type[WalletEvent], ...] = (
    AccountOpened,
    SupplyMinted,
    CoinsTransferredOut,
    CoinsTransferredIn,
    GrantDisbursed,
    CoinsGranted,
    GrantRefused,
    CoinsSpent,
    PaymentReceived,
    CoinsHeld,
    HoldCaptured,
    HoldReleased,
    HoldExpired,
    RefundPaid,
    CoinsRefunded,
    RewardPaid,
    CoinsRewarded,
    SettlementPaid,
    CoinsSettled,
    ShortfallCovered,
    ShortfallCompensated,
    ResidentErased,
)
