"""Two-phase payments, as at a card terminal: coins are held on the resident's wallet for a
payee, then captured (all or part, the rest returned), released, or — unanswered — expired.
Every function checks all its rules before it triggers any event."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from .account import PAYEE_KINDS, RESIDENT, Account
from .errors import HoldExpiredError, Refused
from .movements import post_legs, require_kind, require_positive


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
    require_kind(resident, RESIDENT, role="the payer")
    require_kind(payee, *PAYEE_KINDS, role="the payee")
    require_positive(amount)
    if expires_at <= at:
        raise Refused("a hold must expire after it is placed", code="invalid_expiry", status=422)
    resident.require_active()
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
    require_positive(captured)
    if captured > held:
        raise Refused(f"cannot capture {captured}: only {held} held", code="capture_exceeds_hold")
    reference = str(hold["reference"])
    post_legs(
        resident, Account.HoldCaptured, payee, Account.PaymentReceived, captured, held=True,
        movement_id=movement_id, hold_id=hold_id, reference=reference, occurred_at=at,
    )  # fmt: skip
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
