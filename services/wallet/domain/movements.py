"""How coins move between accounts: every movement debits one account and credits another by
the same integer amount, in events saved together. Minting is the only exception and
happens once. Every function checks all its rules before it triggers any event, so a refused
movement leaves both accounts untouched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from .account import (
    BUDGET,
    ISSUER,
    MUNICIPALITY,
    PAYEE_KINDS,
    RESIDENT,
    Account,
)
from .errors import Refused, WrongAccountKind

#: The fixed supply of KGO, minted once to the issuer.
TOTAL_SUPPLY = 1_000_000

#: Which treasury transfers are allowed, by (from kind, to kind): purpose.
TRANSFER_PURPOSES: dict[tuple[str, str], set[str]] = {
    (ISSUER, MUNICIPALITY): {"genesis"},
    (MUNICIPALITY, BUDGET): {"allocation"},
    (BUDGET, MUNICIPALITY): {"return"},
    # An erased resident's coins, when the setting returns them (WALLET_ERASURE_BALANCE).
    (RESIDENT, MUNICIPALITY): {"return"},
}


def require_kind(account: Account, *kinds: str, role: str) -> None:
    if account.kind not in kinds:
        raise WrongAccountKind(f"{role} must be a {' or '.join(kinds)} account, not {account.kind}")


def require_positive(amount: int) -> None:
    if amount <= 0:
        raise Refused(
            "amount must be a positive whole number of coins", code="invalid_amount", status=422
        )


def post_legs(
    payer: Account,
    debit: type[Account.Entry],
    payee: Account,
    credit: type[Account.Entry],
    amount: int,
    *,
    held: bool = False,
    payee_fields: dict[str, Any] | None = None,
    **common: Any,
) -> None:
    """Both legs of one movement: ``debit`` on the payer (from its available coins, or from
    its held coins when ``held``), ``credit`` on the payee, each naming the other."""
    payer.require_active()
    payee.require_active()
    payer.record(
        debit, amount, 0 if held else -1, -1 if held else 0,
        counter_account_id=payee.id, counter_account_kind=payee.kind, **common,
    )  # fmt: skip
    payee.record(
        credit, amount, +1, 0,
        counter_account_id=payer.id, counter_account_kind=payer.kind,
        **common, **(payee_fields or {}),
    )  # fmt: skip


def mint(issuer: Account, movement_id: UUID, at: datetime, amount: int = TOTAL_SUPPLY) -> None:
    require_kind(issuer, ISSUER, role="the minting account")
    if issuer.minted:
        raise Refused("the supply has already been minted; it is fixed", code="already_minted")
    require_positive(amount)
    issuer.record(
        Account.SupplyMinted,
        amount,
        +1,
        0,
        movement_id=movement_id,
        total_supply=amount,
        occurred_at=at,
    )


def transfer(
    source: Account,
    target: Account,
    amount: int,
    *,
    purpose: str,
    movement_id: UUID,
    at: datetime,
    memo: str | None = None,
) -> None:
    if purpose not in TRANSFER_PURPOSES.get((source.kind, target.kind), set()):
        raise WrongAccountKind(
            f"a {purpose} transfer cannot go from {source.kind} to {target.kind}"
        )
    require_positive(amount)
    source.require_available(amount)
    post_legs(
        source, Account.CoinsTransferredOut, target, Account.CoinsTransferredIn, amount,
        movement_id=movement_id, purpose=purpose, memo=memo, occurred_at=at,
    )  # fmt: skip


def grant(
    budget: Account,
    resident: Account,
    amount: int,
    *,
    reason: str,
    reference: str,
    movement_id: UUID,
    at: datetime,
) -> bool:
    """Grant from a programme budget to a resident. An empty budget refuses, and the refusal
    is recorded on the budget; returns whether the coins moved."""
    require_kind(budget, BUDGET, role="a grant's source")
    require_kind(resident, RESIDENT, role="a grant's recipient")
    require_positive(amount)
    resident.require_active()
    programme = budget.programme or ""
    if amount > budget.available:
        budget.refuse_grant(
            movement_id=movement_id,
            programme=programme,
            resident_account_id=resident.id,
            amount=amount,
            reason_code="budget_exhausted",
            available=budget.available,
            reason=reason,
            reference=reference,
            occurred_at=at,
        )
        return False
    post_legs(
        budget, Account.GrantDisbursed, resident, Account.CoinsGranted, amount,
        movement_id=movement_id, programme=programme, reason=reason, reference=reference,
        occurred_at=at,
    )  # fmt: skip
    return True


def spend(
    resident: Account,
    payee: Account,
    amount: int,
    *,
    reference: str,
    movement_id: UUID,
    at: datetime,
) -> None:
    require_kind(resident, RESIDENT, role="the payer")
    require_kind(payee, *PAYEE_KINDS, role="the payee")
    require_positive(amount)
    resident.require_available(amount)
    post_legs(
        resident, Account.CoinsSpent, payee, Account.PaymentReceived, amount,
        payee_fields={"hold_id": None},
        movement_id=movement_id, reference=reference, occurred_at=at,
    )  # fmt: skip
