"""Events on ``kgo.public.digests``: the ledger's signed daily digests, for anyone.

When the wallet's business clock passes midnight in Bangkok, the wallet closes the day: it
states which records of ``kgo.wallet.events`` the day covers (an explicit range of the
wallet's stored-log positions, the ``kgo_position`` header), their SHA-256, the day's totals,
the previous day's digest, and signs it all with the municipality's Ed25519 key. Anyone who
can read the ledger topic can recompute every figure (``schemas/README.md``, "Daily digests";
the reference algorithm is :mod:`kgo_contracts.digest`). No personal data: totals only.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import topics
from .base import BusinessTime, CoinBalance, ContractEvent, Satang

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
#: Coins counted over a day (a sum of amounts; zero on a quiet day).
Sum = Annotated[int, Field(strict=True, ge=0)]
Position = Annotated[int, Field(strict=True, ge=0)]


class DigestTotals(BaseModel):
    """The day's totals, each a sum of ``amount`` over the day's records of one type."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    minted: Sum = Field(description="SupplyMinted.")
    granted: Sum = Field(description="CoinsGranted (all programmes).")
    granted_by_programme: dict[str, Sum] = Field(
        description="CoinsGranted by its `programme`; programmes without a grant that day are "
        "left out."
    )
    spent_at_shops: Sum = Field(
        description="PaymentReceived on shop accounts (direct spends and captured holds)."
    )
    fares: Sum = Field(description="PaymentReceived on the bus operator's accounts.")
    fare_shortfalls: Sum = Field(
        description="ShortfallCompensated: offline fares a loss budget paid the bus operator."
    )
    voided: Sum = Field(
        description="RefundPaid: coins shops or the bus operator gave back to residents "
        "(a voided redemption is refunded this way)."
    )
    rewarded: Sum = Field(description="RewardPaid: shops' rewards from their own balance.")
    settled: Sum = Field(description="SettlementPaid: coins returned to programme budgets.")
    settled_baht_satang: Satang = Field(description="SettlementPaid's `baht_satang`.")
    held_at_close: CoinBalance = Field(
        description="Coins on hold in all accounts after the day's last record: the previous "
        "day's figure plus CoinsHeld, minus HoldCaptured, HoldReleased and HoldExpired."
    )


class DayClosed(ContractEvent):
    """The wallet closed a Bangkok day of the ledger: which records it covers, their hash,
    the day's totals, the chain to the previous day, and the municipality's signature."""

    wire_name: ClassVar[str] = "kgo.wallet.DayClosed"
    topic: ClassVar[str] = topics.DIGESTS
    key_field: ClassVar[str] = "day"
    time_field: ClassVar[str] = "closed_at"

    algorithm: Literal["kgo-daily-digest-1"] = Field(
        description="The digest algorithm (schemas/README.md, 'Daily digests')."
    )
    day: str = Field(
        pattern=r"^\d{4}-\d{2}-\d{2}$", description="The Bangkok calendar day, YYYY-MM-DD."
    )
    from_position: Position = Field(
        description="The range starts here: the previous day's `to_position` + 1 (1 on the "
        "first day)."
    )
    to_position: Position = Field(
        description="The range ends here (inclusive); `from_position` - 1 when it is empty."
    )
    record_count: Sum = Field(
        description="Records of kgo.wallet.events whose `kgo_position` is in the range."
    )
    records_sha256: Sha256Hex = Field(
        description="SHA-256 of the range's canonical record lines, in position order."
    )
    totals: DigestTotals
    previous_digest_sha256: Sha256Hex = Field(
        description="The previous day's `digest_sha256`; 64 zeros on the first day."
    )
    key_id: str = Field(
        pattern=r"^[0-9a-f]{16}$",
        description="The signing key: the first 16 hex digits of SHA-256 of its raw 32-byte "
        "Ed25519 public key (published in schemas/keys/).",
    )
    closed_at: BusinessTime = Field(description="The wallet's business time at the close.")
    digest_sha256: Sha256Hex = Field(
        description="SHA-256 of the canonical JSON of this payload without `digest_sha256` and "
        "`signature`: what the next day chains to."
    )
    signature: str = Field(
        pattern=r"^[0-9a-f]{128}$",
        description="Ed25519 signature (hex) over that same canonical JSON.",
    )


DIGEST_EVENTS: tuple[type[ContractEvent], ...] = (DayClosed,)
