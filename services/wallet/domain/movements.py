"""How coins move between accounts: every movement debits one account and credits another by
the same integer amount, in events saved together. Minting is the only exception and
happens once. Every function checks all its rules before it triggers any event, so a refused
movement leaves both accounts untouched.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from .account import (
    BUDGET,
    ISSUER,
    MUNICIPALITY,
    PAYEE_KINDS,
    RESIDENT,
    Account,
)
from .errors import HoldExpiredError, Refused, WrongAccountKind

#: The fixed supply of KGO, minted once to the issuer.
TOTAL_SUPPLY = 1_000_000

#: Which treasury transfers are allowed, by (from kind, to kind): purpose.
TRANSFER_PURPOSES: dict[tuple[str, str], set[str]] = {
    (ISSUER, MUNICIPALITY): {"genesis"},
    (MUNICIPALITY, BUDGET): {"allocation"},
    (BUDGET, MUNICIPALITY): {"return"},
}


def _require_kind(account: Account, *kinds: str, role: str) -> None:
    if account.kind not in kinds:
        raise WrongAccountKind(f"{role} must be a {' or '.join(kinds)} account, not {account.kind}")


def _require_positive(amount: int) -> None:
    if amount <= 0:
        raise Refused(
            "amount must be a positive whole number of coins", code="invalid_amount", status=422
        )


def mint(issuer: Account, movement_id: UUID, at: datetime, amount: int = TOTAL_SUPPLY) -> None:
    _require_kind(issuer, ISSUER, role="the minting account")
    if issuer.minted:
        raise Refused("the supply has already been minted; it is fixed", code="already_minted")
    _require_positive(amount)
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
    _require_positive(amount)
    source.require_available(amount)
    common = {"movement_id": movement_id, "purpose": purpose, "memo": memo, "occurred_at": at}
    source.record(
        Account.CoinsTransferredOut,
        amount,
        -1,
        0,
        counter_account_id=target.id,
        counter_account_kind=target.kind,
        **common,
    )
    target.record(
        Account.CoinsTransferredIn,
        amount,
        +1,
        0,
        counter_account_id=source.id,
        counter_account_kind=source.kind,
        **common,
    )


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
    _require_kind(budget, BUDGET, role="a grant's source")
    _require_kind(resident, RESIDENT, role="a grant's recipient")
    _require_positive(amount)
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
    common = {
        "movement_id": movement_id,
        "programme": programme,
        "reason": reason,
        "reference": reference,
        "occurred_at": at,
    }
    budget.record(
        Account.GrantDisbursed,
        amount,
        -1,
        0,
        counter_account_id=resident.id,
        counter_account_kind=resident.kind,
        **common,
    )
    resident.record(
        Account.CoinsGranted,
        amount,
        +1,
        0,
        counter_account_id=budget.id,
        counter_account_kind=budget.kind,
        **common,
    )
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
    _require_kind(resident, RESIDENT, role="the payer")
    _require_kind(payee, *PAYEE_KINDS, role="the payee")
    _require_positive(amount)
    resident.require_available(amount)
    resident.record(
        Account.CoinsSpent,
        amount,
        -1,
        0,
        movement_id=movement_id,
        reference=reference,
        counter_account_id=payee.id,
        counter_account_kind=payee.kind,
        occurred_at=at,
    )
    payee.record(
        Account.PaymentReceived,
        amount,
        +1,
        0,
        movement_id=movement_id,
        reference=reference,
        counter_account_id=resident.id,
        counter_account_kind=resident.kind,
        hold_id=None,
        occurred_at=at,
    )


def place_hold(
    resident: Account,
    payee: Account,
    amount: int,
    *,
    hold_id: UUID,
    expires_at: datetime,
    reference: str,
    at: datetime,
) -> None:
    _require_kind(resident, RESIDENT, role="the payer")
    _require_kind(payee, *PAYEE_KINDS, role="the payee")
    _require_positive(amount)
    if expires_at <= at:
        raise Refused("a hold must expire after it is placed", code="invalid_expiry", status=422)
    resident.require_available(amount)
    resident.record(
        Account.CoinsHeld,
        amount,
        -1,
        +1,
        movement_id=hold_id,
        hold_id=hold_id,
        payee_account_id=payee.id,
        expires_at=expires_at,
        reference=reference,
        occurred_at=at,
    )


def capture(
    resident: Account,
    payee: Account,
    hold_id: UUID,
    *,
    amount: int | None,
    movement_id: UUID,
    at: datetime,
) -> int:
    """Capture all or part of a hold for its payee; the rest goes back to available.
    Returns the coins captured."""
    hold = resident.hold(hold_id)
    if str(payee.id) != hold["payee"]:
        raise Refused("this hold was placed for another payee", code="wrong_payee", status=403)
    if at >= hold["expires_at"]:
        raise HoldExpiredError(f"the hold expired at {hold['expires_at'].isoformat()}")
    held = int(hold["amount"])
    captured = held if amount is None else amount
    _require_positive(captured)
    if captured > held:
        raise Refused(f"cannot capture {captured}: only {held} held", code="capture_exceeds_hold")
    reference = str(hold["reference"])
    resident.record(
        Account.HoldCaptured,
        captured,
        0,
        -1,
        movement_id=movement_id,
        hold_id=hold_id,
        reference=reference,
        counter_account_id=payee.id,
        counter_account_kind=payee.kind,
        occurred_at=at,
    )
    payee.record(
        Account.PaymentReceived,
        captured,
        +1,
        0,
        movement_id=movement_id,
        reference=reference,
        counter_account_id=resident.id,
        counter_account_kind=resident.kind,
        hold_id=hold_id,
        occurred_at=at,
    )
    if held > captured:
        resident.record(
            Account.HoldReleased,
            held - captured,
            +1,
            -1,
            movement_id=movement_id,
            hold_id=hold_id,
            reason="capture_remainder",
            occurred_at=at,
        )
    return captured


def release(
    resident: Account, hold_id: UUID, *, payee_id: UUID | None, movement_id: UUID, at: datetime
) -> int:
    hold = resident.hold(hold_id)
    if payee_id is not None and str(payee_id) != hold["payee"]:
        raise Refused("this hold was placed for another payee", code="wrong_payee", status=403)
    amount = int(hold["amount"])
    resident.record(
        Account.HoldReleased,
        amount,
        +1,
        -1,
        movement_id=movement_id,
        hold_id=hold_id,
        reason="released",
        occurred_at=at,
    )
    return amount


def expire(resident: Account, hold_id: UUID, *, movement_id: UUID, at: datetime) -> int:
    """Return the coins of a hold whose expiry has passed at business time ``at``."""
    hold = resident.hold(hold_id)
    expires_at: datetime = hold["expires_at"]
    if at < expires_at:
        raise Refused(f"the hold runs until {expires_at.isoformat()}", code="hold_not_expired")
    amount = int(hold["amount"])
    resident.record(
        Account.HoldExpired,
        amount,
        +1,
        -1,
        movement_id=movement_id,
        hold_id=hold_id,
        expires_at=expires_at,
        occurred_at=at,
    )
    return amount
