"""The reference fold: balances rebuilt from wallet records alone, checked as they go."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from kgo_contracts.examples import (
    BUDGET,
    ISSUER,
    LOSS_BUDGET,
    MUNICIPALITY,
    OPERATOR,
    RESIDENT,
    SHOP,
    example_ce_id,
    wallet_story,
)
from kgo_contracts.fold import EFFECTS, FoldError, Ledger, fold, wire_name
from kgo_contracts.wallet import WALLET_EVENTS

pytestmark = pytest.mark.unit

Record = tuple[str, str, dict[str, Any]]


def rec(ce_id: str, name: str, account: str, amount: int, after: tuple[int, int]) -> Record:
    payload = {"account_id": account, "amount": amount}
    payload |= {"available_after": after[0], "held_after": after[1]}
    return ce_id, f"kgo.wallet.{name}.v1", payload


#: Mint, fund a budget, grant a resident, a hold captured in part, a bus fare, a refusal.
DAY: list[Record] = [
    ("e0", "kgo.wallet.AccountOpened.v1", {"account_id": "issuer"}),
    rec("e1", "SupplyMinted", "issuer", 1_000, (1_000, 0)),
    rec("e2", "CoinsTransferredOut", "issuer", 400, (600, 0)),
    rec("e3", "CoinsTransferredIn", "budget", 400, (400, 0)),
    rec("e4", "GrantDisbursed", "budget", 300, (100, 0)),
    rec("e5", "CoinsGranted", "resident", 300, (300, 0)),
    rec("e6", "CoinsHeld", "resident", 120, (180, 120)),
    rec("e7", "HoldCaptured", "resident", 100, (180, 20)),
    rec("e8", "PaymentReceived", "shop", 100, (100, 0)),
    rec("e9", "HoldReleased", "resident", 20, (200, 0)),
    rec("e10", "CoinsSpent", "resident", 50, (150, 0)),
    rec("e11", "PaymentReceived", "operator", 50, (50, 0)),
    ("e12", "kgo.wallet.GrantRefused.v1", {"account_id": "budget", "amount": 9_999}),
]
BALANCES = {
    "issuer": (600, 0),
    "budget": (100, 0),
    "resident": (150, 0),
    "shop": (100, 0),
    "operator": (50, 0),
}


def _balances(ledger: Ledger) -> dict[str, tuple[int, int]]:
    return {a: (b.available, b.held) for a, b in ledger.balances.items()}


def test_a_day_folds_to_the_right_balances() -> None:
    ledger = fold(DAY)
    assert _balances(ledger) == BALANCES
    assert ledger.minted == 1_000
    ledger.check_conservation()


def test_a_wrong_available_after_is_caught_and_leaves_the_ledger_as_it_was() -> None:
    ledger = fold(DAY[:6])
    bad = rec("e6", "CoinsHeld", "resident", 120, (170, 120))
    with pytest.raises(FoldError, match="folds to 180/120, record says 170/120"):
        ledger.apply(*bad)
    assert _balances(ledger)["resident"] == (300, 0)
    ledger.apply(*DAY[6])  # the corrected record still folds
    assert _balances(ledger)["resident"] == (180, 120)


def test_a_wrong_held_after_is_caught() -> None:
    with pytest.raises(FoldError):
        fold([*DAY[:6], rec("e6", "CoinsHeld", "resident", 120, (180, 0))])


def test_going_below_zero_is_caught() -> None:
    with pytest.raises(FoldError, match="below zero"):
        fold([*DAY[:6], rec("x", "CoinsSpent", "resident", 301, (0, 0))])
    with pytest.raises(FoldError, match="below zero"):
        fold([*DAY[:6], rec("x", "HoldCaptured", "resident", 1, (300, 0))])


@pytest.mark.parametrize("amount", [1.5, "5", 0, -1, True])
def test_amounts_must_be_positive_whole_coins(amount: Any) -> None:
    with pytest.raises(FoldError, match="whole number"):
        fold([("e1", "kgo.wallet.SupplyMinted.v1", {"account_id": "i", "amount": amount})])


def test_a_record_delivered_twice_is_folded_once() -> None:
    redelivered = [*DAY[:7], DAY[5], DAY[6], *DAY[7:], DAY[1]]
    assert _balances(fold(redelivered)) == BALANCES


def test_conservation_holds_only_once_both_legs_are_folded() -> None:
    ledger = fold(DAY[:3])  # the transfer's debit leg is in, its credit leg not yet
    with pytest.raises(FoldError, match="sum of balances 600 != minted 1000"):
        ledger.check_conservation()
    ledger.apply(*DAY[3])
    ledger.check_conservation()


def test_legs_on_different_partitions_may_interleave() -> None:
    """Per-account order is all Kafka gives; any interleaving of accounts folds the same."""
    by_account: dict[str, list[Record]] = {}
    for record in DAY:
        by_account.setdefault(record[2]["account_id"], []).append(record)
    accounts = ["operator", "shop", "resident", "budget", "issuer"]  # payees first
    ledger = fold(record for account in accounts for record in by_account[account])
    assert _balances(ledger) == BALANCES
    ledger.check_conservation()


def test_the_published_examples_tell_a_consistent_story() -> None:
    ledger = fold(
        (example_ce_id(e), e.ce_type(), e.model_dump(mode="json")) for e in wallet_story()
    )
    ledger.check_conservation()
    assert ledger.minted == 1_000_000
    totals = {UUID(a): b.total for a, b in ledger.balances.items()}
    assert totals == {  # as schemas/README.md tells it
        ISSUER: 0,
        MUNICIPALITY: 599_000,
        BUDGET: 400_020,
        LOSS_BUDGET: 950,
        RESIDENT: 30,
        SHOP: 0,
        OPERATOR: 0,
    }


def test_the_table_covers_every_wallet_event_that_moves_coins() -> None:
    quiet = {"kgo.wallet.AccountOpened", "kgo.wallet.GrantRefused", "kgo.wallet.ResidentErased"}
    assert set(EFFECTS) == {e.wire_name for e in WALLET_EVENTS} - quiet
    assert wire_name("kgo.wallet.CoinsGranted.v1") == "kgo.wallet.CoinsGranted"
