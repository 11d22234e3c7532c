"""The balance fold: every wallet balance rebuilt from ``kgo.wallet.events`` alone.

This is the reference implementation of the fold stated in ``schemas/README.md``. It uses only
the standard library and works on decoded JSON payloads, so a subscriber can copy it as it is.

Each record changes the available and held coins of exactly one account, ``account_id``:

====================================================  ============  ==========
ce_type (without ``.v1``)                             available     held
====================================================  ============  ==========
SupplyMinted, CoinsTransferredIn, CoinsGranted,       + amount      0
PaymentReceived, CoinsRefunded, CoinsRewarded,
CoinsSettled, ShortfallCompensated
CoinsTransferredOut, GrantDisbursed, CoinsSpent,      - amount      0
RefundPaid, RewardPaid, SettlementPaid,
ShortfallCovered
CoinsHeld                                             - amount      + amount
HoldCaptured                                          0             - amount
HoldReleased, HoldExpired                             + amount      - amount
AccountOpened, GrantRefused (and any other type)      0             0
====================================================  ============  ==========
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: (Δavailable, Δheld) per unit of ``amount``, by wire name.
EFFECTS: dict[str, tuple[int, int]] = {
    "kgo.wallet.SupplyMinted": (1, 0),
    "kgo.wallet.CoinsTransferredIn": (1, 0),
    "kgo.wallet.CoinsGranted": (1, 0),
    "kgo.wallet.PaymentReceived": (1, 0),
    "kgo.wallet.CoinsTransferredOut": (-1, 0),
    "kgo.wallet.GrantDisbursed": (-1, 0),
    "kgo.wallet.CoinsSpent": (-1, 0),
    "kgo.wallet.CoinsHeld": (-1, 1),
    "kgo.wallet.HoldCaptured": (0, -1),
    "kgo.wallet.HoldReleased": (1, -1),
    "kgo.wallet.HoldExpired": (1, -1),
    "kgo.wallet.CoinsRefunded": (1, 0),
    "kgo.wallet.CoinsRewarded": (1, 0),
    "kgo.wallet.CoinsSettled": (1, 0),
    "kgo.wallet.ShortfallCompensated": (1, 0),
    "kgo.wallet.RefundPaid": (-1, 0),
    "kgo.wallet.RewardPaid": (-1, 0),
    "kgo.wallet.SettlementPaid": (-1, 0),
    "kgo.wallet.ShortfallCovered": (-1, 0),
}


def wire_name(ce_type: str) -> str:
    """``kgo.wallet.CoinsGranted.v1`` -> ``kgo.wallet.CoinsGranted``."""
    head, _, version = ce_type.rpartition(".")
    return head if version.startswith("v") and version[1:].isdigit() else ce_type


class FoldError(ValueError):
    """The records broke a ledger rule: a negative balance or a wrong ``*_after`` figure."""


@dataclass
class Balance:
    available: int = 0
    held: int = 0

    @property
    def total(self) -> int:
        return self.available + self.held


@dataclass
class Ledger:
    """Balances folded so far, plus the checks a subscriber can make while folding."""

    balances: dict[str, Balance] = field(default_factory=dict)
    minted: int = 0
    seen_ids: set[str] = field(default_factory=set)

    def apply(self, ce_id: str, ce_type: str, payload: Mapping[str, Any]) -> None:
        """Fold one record. Records already seen (same ``ce_id``) are skipped: delivery is
        at-least-once. Raises FoldError if the record contradicts the ledger; the ledger is
        then left as it was before the record."""
        if ce_id in self.seen_ids:
            return
        name = wire_name(ce_type)
        effect = EFFECTS.get(name)
        if effect is not None:
            self._enter(ce_id, name, effect, payload)
        self.seen_ids.add(ce_id)

    def _enter(
        self, ce_id: str, name: str, effect: tuple[int, int], payload: Mapping[str, Any]
    ) -> None:
        account = str(payload["account_id"])
        amount = payload["amount"]
        if type(amount) is not int or amount <= 0:
            raise FoldError(f"{ce_id}: amount {amount!r} is not a positive whole number of coins")
        before = self.balances.get(account, Balance())
        after = Balance(before.available + effect[0] * amount, before.held + effect[1] * amount)
        if after.available < 0 or after.held < 0:
            raise FoldError(f"{ce_id}: account {account} would go below zero")
        expected = (payload.get("available_after"), payload.get("held_after"))
        if expected != (after.available, after.held):
            raise FoldError(
                f"{ce_id}: account {account} folds to {after.available}/{after.held}, "
                f"record says {expected[0]}/{expected[1]}"
            )
        self.balances[account] = after
        if name == "kgo.wallet.SupplyMinted":
            self.minted += amount

    def circulating(self) -> int:
        return sum(b.total for b in self.balances.values())

    def check_conservation(self) -> None:
        """Once every record of a committed transaction is folded, the sum over all accounts
        equals the minted supply."""
        if self.circulating() != self.minted:
            raise FoldError(f"sum of balances {self.circulating()} != minted {self.minted}")


def fold(records: Iterable[tuple[str, str, Mapping[str, Any]]]) -> Ledger:
    """Fold ``(ce_id, ce_type, payload)`` records, in per-account (per-partition) order."""
    ledger = Ledger()
    for ce_id, ce_type, payload in records:
        ledger.apply(ce_id, ce_type, payload)
    return ledger
