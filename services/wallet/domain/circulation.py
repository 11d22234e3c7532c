"""How a fixed supply circulates: coins a shop or the bus operator received flow on.

A shop refunds a voided redemption or rewards a resident from its own balance; a shop or the
bus operator settles coins back into a programme budget for the baht the programme pays it
outside KGO; a loss budget covers the fare an offline rider could no longer pay. Each is one
movement, both legs posted by one function (``movements.post_legs``), every rule checked
before either leg is triggered. A reward from a matching budget is a grant
(``movements.grant``), so it is refused and recorded the same way when the budget is empty.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from .account import BUDGET, OPERATOR, PAYEE_KINDS, RESIDENT, Account
from .errors import InsufficientFunds, Refused
from .movements import post_legs, require_kind, require_positive

#: The loss budget that pays the bus operator for offline fares it could not collect.
OFFLINE_LOSS_PROGRAMME = "offline-loss"


class BudgetExhausted(Refused):
    code = "budget_exhausted"
    status = 409


def require_coins(payer: Account, amount: int) -> None:
    """The payer holds ``amount`` available coins. The refusal tells no balance: the caller
    (another service) may not read the payer's account."""
    if amount > payer.available:
        raise InsufficientFunds(f"the {payer.kind} does not hold {amount} coins to pay")


def refund(
    payee: Account,
    resident: Account,
    amount: int,
    *,
    reference: str,
    movement_id: UUID,
    at: datetime,
) -> None:
    """Coins back from a shop (or the bus operator) to a resident, e.g. a voided redemption."""
    require_kind(payee, *PAYEE_KINDS, role="a refund's payer")
    require_kind(resident, RESIDENT, role="a refund's recipient")
    require_positive(amount)
    require_coins(payee, amount)
    post_legs(
        payee, Account.RefundPaid, resident, Account.CoinsRefunded, amount,
        movement_id=movement_id, reference=reference, occurred_at=at,
    )  # fmt: skip


def reward(
    payee: Account,
    resident: Account,
    amount: int,
    *,
    reference: str,
    movement_id: UUID,
    at: datetime,
) -> None:
    """A shop (or the bus operator) rewards a resident from its own balance."""
    require_kind(payee, *PAYEE_KINDS, role="a reward's payer")
    require_kind(resident, RESIDENT, role="a reward's recipient")
    require_positive(amount)
    require_coins(payee, amount)
    post_legs(
        payee, Account.RewardPaid, resident, Account.CoinsRewarded, amount,
        movement_id=movement_id, reference=reference, occurred_at=at,
    )  # fmt: skip


def settle(
    payee: Account,
    budget: Account,
    amount: int,
    *,
    baht_satang: int,
    payment_reference: str,
    movement_id: UUID,
    at: datetime,
) -> None:
    """A shop or the bus operator returns coins to a programme budget; the programme pays
    ``baht_satang`` for them outside KGO (``payment_reference`` names that payment)."""
    require_kind(payee, *PAYEE_KINDS, role="a settlement's payer")
    require_kind(budget, BUDGET, role="a settlement's recipient")
    require_positive(amount)
    if baht_satang < 0:
        raise Refused("baht_satang cannot be negative", code="invalid_amount", status=422)
    require_coins(payee, amount)
    post_legs(
        payee, Account.SettlementPaid, budget, Account.CoinsSettled, amount,
        movement_id=movement_id, programme=budget.programme or "", baht_satang=baht_satang,
        payment_reference=payment_reference, occurred_at=at,
    )  # fmt: skip


def cover_shortfall(
    budget: Account,
    operator: Account,
    amount: int,
    *,
    rider: Account,
    reference: str,
    movement_id: UUID,
    at: datetime,
) -> None:
    """A loss budget pays the bus operator the fare an offline rider no longer had when the
    tap reached the wallet; ``reference`` is the trip. The rider's wallet is named, not
    touched."""
    require_kind(budget, BUDGET, role="a shortfall's source")
    require_kind(operator, OPERATOR, role="a shortfall's recipient")
    require_kind(rider, RESIDENT, role="the rider")
    require_positive(amount)
    if amount > budget.available:
        raise BudgetExhausted(f"programme budget {budget.programme!r} cannot pay {amount} coins")
    post_legs(
        budget, Account.ShortfallCovered, operator, Account.ShortfallCompensated, amount,
        movement_id=movement_id, programme=budget.programme or "",
        rider_account_id=rider.id, reference=reference, occurred_at=at,
    )  # fmt: skip
