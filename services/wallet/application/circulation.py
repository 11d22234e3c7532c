"""Circulation commands and their handlers: refunds, rewards, settlements and shortfalls.

The merchant and transit services send them as role ``service``. Like every command they
carry the caller's idempotency key; the movement id derives from the command's receipt id,
so deciding one again after a conflict yields the same id. Answers name the movement and
never carry a balance: the caller may not read the resident's wallet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from ..domain import circulation, movements
from ..domain.account import Account
from ..domain.errors import Refused
from ..domain.ids import budget_id, kgo_id
from .commands import Command
from .unit_of_work import UnitOfWork

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Refund(Command):
    """Coins back from a shop (or the bus operator) to a resident."""

    name: ClassVar[str] = "refund"
    payee_id: UUID
    wallet_id: UUID
    amount: int
    reference: str


@dataclass(frozen=True, kw_only=True)
class Reward(Command):
    """A reward to a resident: from a shop's own balance (``payee_id``) or, as a grant, from
    a matching budget (``programme``); exactly one of the two."""

    name: ClassVar[str] = "reward"
    wallet_id: UUID
    amount: int
    reference: str
    payee_id: UUID | None = None
    programme: str | None = None
    reason: str = "matching reward"


@dataclass(frozen=True, kw_only=True)
class Settle(Command):
    """A shop or the bus operator returns coins to a programme budget for baht paid outside."""

    name: ClassVar[str] = "settle"
    payee_id: UUID
    amount: int
    programme: str
    baht_satang: int
    payment_reference: str


@dataclass(frozen=True, kw_only=True)
class CoverShortfall(Command):
    """A loss budget pays the bus operator what an offline rider's wallet could not."""

    name: ClassVar[str] = "cover_shortfall"
    programme: str
    payee_id: UUID
    wallet_id: UUID
    amount: int
    reference: str


def _movement_id(receipt: UUID) -> UUID:
    """As in handlers.py: the movement id of a command, from its receipt id."""
    return kgo_id(f"movement:{receipt}")


def _budget(uow: UnitOfWork, programme: str) -> Account:
    return uow.account(budget_id(programme), f"programme budget {programme!r}")


def refund(uow: UnitOfWork, cmd: Refund, receipt: UUID) -> Answer:
    payee = uow.account(cmd.payee_id, "payee")
    resident = uow.account(cmd.wallet_id, "wallet")
    movement_id = _movement_id(receipt)
    circulation.refund(
        payee, resident, cmd.amount, reference=cmd.reference, movement_id=movement_id, at=cmd.at
    )
    return 201, {"movement_id": str(movement_id), "amount": cmd.amount}


def reward(uow: UnitOfWork, cmd: Reward, receipt: UUID) -> Answer:
    if (cmd.payee_id is None) == (cmd.programme is None):
        raise Refused(
            "a reward comes from a payee_id or a programme, exactly one of them",
            code="invalid_request",
            status=422,
        )
    resident = uow.account(cmd.wallet_id, "wallet")
    movement_id = _movement_id(receipt)
    fields: dict[str, Any] = {"reference": cmd.reference, "movement_id": movement_id, "at": cmd.at}
    if cmd.payee_id is not None:
        payee = uow.account(cmd.payee_id, "payee")
        circulation.reward(payee, resident, cmd.amount, **fields)
    elif not movements.grant(
        _budget(uow, str(cmd.programme)), resident, cmd.amount, reason=cmd.reason, **fields
    ):
        return 409, {
            "code": "budget_exhausted",
            "reason": f"programme budget {cmd.programme!r} cannot pay {cmd.amount} coins; "
            "the refusal is recorded",
            "movement_id": str(movement_id),
        }
    return 201, {"movement_id": str(movement_id), "amount": cmd.amount}


def settle(uow: UnitOfWork, cmd: Settle, receipt: UUID) -> Answer:
    payee = uow.account(cmd.payee_id, "payee")
    budget = _budget(uow, cmd.programme)
    movement_id = _movement_id(receipt)
    circulation.settle(
        payee,
        budget,
        cmd.amount,
        baht_satang=cmd.baht_satang,
        payment_reference=cmd.payment_reference,
        movement_id=movement_id,
        at=cmd.at,
    )
    return 201, {
        "movement_id": str(movement_id),
        "amount": cmd.amount,
        "programme": cmd.programme,
        "baht_satang": cmd.baht_satang,
        "payment_reference": cmd.payment_reference,
    }


def cover_shortfall(uow: UnitOfWork, cmd: CoverShortfall, receipt: UUID) -> Answer:
    budget = _budget(uow, cmd.programme)
    operator = uow.account(cmd.payee_id, "payee")
    rider = uow.account(cmd.wallet_id, "wallet")
    movement_id = _movement_id(receipt)
    circulation.cover_shortfall(
        budget,
        operator,
        cmd.amount,
        rider=rider,
        reference=cmd.reference,
        movement_id=movement_id,
        at=cmd.at,
    )
    return 201, {"movement_id": str(movement_id), "amount": cmd.amount}


#: Registered into ``handlers.HANDLERS``.
HANDLERS: dict[type[Any], Callable[[UnitOfWork, Any, UUID], Answer]] = {
    Refund: refund,
    Reward: reward,
    Settle: settle,
    CoverShortfall: cover_shortfall,
}
