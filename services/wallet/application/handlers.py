"""One handler per command: load the accounts, let the domain decide, return the answer.

Handlers run inside a batch's unit of work; the ledger saves what they touched. Ids of new
movements and holds derive from the command's receipt id, so deciding the same command again
(after a conflict) yields the same ids.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from ..domain import holds, movements
from ..domain.account import BUDGET, ISSUER, MUNICIPALITY, RESIDENT, Account
from ..domain.errors import AlreadyExists, Refused
from ..domain.identity import IdentityClaim, ResidentRecord
from ..domain.ids import (
    GENESIS_MOVEMENT_ID,
    ISSUER_ID,
    MUNICIPALITY_ID,
    budget_id,
    kgo_id,
    payee_id,
)
from . import commands as c
from . import resident_handlers
from .circulation import HANDLERS as CIRCULATION_HANDLERS
from .consent import HANDLERS as CONSENT_HANDLERS
from .consent import Consent, authorise
from .erasure import HANDLERS as ERASURE_HANDLERS
from .unit_of_work import UnitOfWork

Answer = tuple[int, dict[str, Any]]


def account_view(account: Account) -> dict[str, Any]:
    return {
        "account_id": str(account.id),
        "kind": account.kind,
        "available": account.available,
        "held": account.held,
    }


def _movement_id(receipt: UUID, leg: str = "movement") -> UUID:
    return kgo_id(f"{leg}:{receipt}")


def _open_if_missing(
    uow: UnitOfWork, account_id: UUID, kind: str, cmd: c.Command, **kw: Any
) -> Account:
    account = uow.find(account_id, Account)
    if account is None:
        account = Account.open(account_id, kind, cmd.at, **kw)
        uow.add(account)
    return account


def mint_genesis(uow: UnitOfWork, cmd: c.MintGenesis, receipt: UUID) -> Answer:
    issuer = _open_if_missing(uow, ISSUER_ID, ISSUER, cmd, label="Khon Kaen Think Tank (KKTT)")
    if issuer.minted:
        raise Refused("the supply has already been minted; it is fixed", code="already_minted")
    municipality = _open_if_missing(
        uow, MUNICIPALITY_ID, MUNICIPALITY, cmd, label="Khon Kaen City Municipality"
    )
    movements.mint(issuer, GENESIS_MOVEMENT_ID, cmd.at)
    movements.transfer(
        issuer,
        municipality,
        issuer.available,
        purpose="genesis",
        movement_id=_movement_id(receipt),
        at=cmd.at,
        memo="genesis handover",
    )
    return 201, {
        "minted": movements.TOTAL_SUPPLY,
        "issuer": account_view(issuer),
        "municipality": account_view(municipality),
    }


def open_budget(uow: UnitOfWork, cmd: c.OpenBudget, receipt: UUID) -> Answer:
    account_id = budget_id(cmd.programme)
    if uow.find(account_id, Account) is not None:
        raise AlreadyExists(f"programme budget {cmd.programme!r} is already open")
    budget = Account.open(account_id, BUDGET, cmd.at, programme=cmd.programme, label=cmd.label)
    uow.add(budget)
    return 201, {**account_view(budget), "programme": cmd.programme}


def _treasury_transfer(
    uow: UnitOfWork, cmd: c.AllocateBudget | c.ReturnBudget, receipt: UUID
) -> Answer:
    municipality = uow.account(MUNICIPALITY_ID, "the municipality")
    budget = uow.account(budget_id(cmd.programme), f"programme budget {cmd.programme!r}")
    allocate = isinstance(cmd, c.AllocateBudget)
    source, target = (municipality, budget) if allocate else (budget, municipality)
    movements.transfer(
        source,
        target,
        cmd.amount,
        purpose="allocation" if allocate else "return",
        movement_id=_movement_id(receipt),
        at=cmd.at,
        memo=cmd.memo,
    )
    return 201, {
        "movement_id": str(_movement_id(receipt)),
        "budget": {**account_view(budget), "programme": cmd.programme},
        "municipality": account_view(municipality),
    }


def open_payee(uow: UnitOfWork, cmd: c.OpenPayee, receipt: UUID) -> Answer:
    account_id = payee_id(cmd.kind, cmd.external_ref)
    if uow.find(account_id, Account) is not None:
        raise AlreadyExists(f"{cmd.kind} {cmd.external_ref!r} already has an account")
    payee = Account.open(
        account_id, cmd.kind, cmd.at, label=cmd.label, external_ref=cmd.external_ref
    )
    uow.add(payee)
    return 201, {**account_view(payee), "external_ref": cmd.external_ref}


def register_resident(uow: UnitOfWork, cmd: c.RegisterResident, receipt: UUID) -> Answer:
    nid_claim = resident_handlers.free_claim(uow, "national_id", cmd.national_id_index,
                                             cmd.national_id_claim)  # fmt: skip
    phone_claim = None
    if cmd.phone_index is not None:
        phone_claim = resident_handlers.free_claim(uow, "phone", cmd.phone_index, cmd.phone_claim)
    wallet = Account.open(cmd.wallet_id or uuid4(), RESIDENT, cmd.at, origin=cmd.origin)
    uow.add(wallet)
    uow.add(
        IdentityClaim.claim(
            nid_claim,
            kind="national_id",
            wallet_id=wallet.id,
            at=cmd.at,
            sealed_personal_data=cmd.sealed_personal_data,
            key_id=cmd.key_id,
        )
    )
    if phone_claim is None:
        pending = resident_handlers.phone_pending_claim(wallet.id)
        kind = resident_handlers.PHONE_PENDING
        uow.add(IdentityClaim.claim(pending, kind=kind, wallet_id=wallet.id, at=cmd.at))
    else:
        uow.add(IdentityClaim.claim(phone_claim, kind="phone", wallet_id=wallet.id, at=cmd.at))
    claims = [nid_claim] if phone_claim is None else [nid_claim, phone_claim]
    uow.add(ResidentRecord.open(wallet.id, claims, cmd.at))
    return 201, {**account_view(wallet), "wallet_id": str(wallet.id)}


def grant(uow: UnitOfWork, cmd: c.Grant, receipt: UUID) -> Answer:
    budget = uow.account(budget_id(cmd.programme), f"programme budget {cmd.programme!r}")
    resident = uow.account(cmd.wallet_id, "wallet")
    movement_id = _movement_id(receipt)
    granted = movements.grant(
        budget,
        resident,
        cmd.amount,
        reason=cmd.reason,
        reference=cmd.reference,
        movement_id=movement_id,
        at=cmd.at,
    )
    if not granted:
        return 409, {
            "code": "budget_exhausted",
            "reason": f"programme budget {cmd.programme!r} cannot pay {cmd.amount} coins; "
            "the refusal is recorded",
            "movement_id": str(movement_id),
        }
    return 201, {
        "movement_id": str(movement_id),
        "wallet_id": str(resident.id),
        "amount": cmd.amount,
    }


def _payer(uow: UnitOfWork, cmd: c.Spend | c.PlaceHold, payee: Account) -> Consent | Answer:
    """Whose wallet pays, from the command's authorisation (consent.py); or an answer
    already decided (a wrong PIN). Answers to payments name the wallet, never its balance."""
    if cmd.authorisation is not None:
        return authorise(
            uow, cmd.authorisation, payee=payee, wallet_id=cmd.wallet_id,
            pin_verified=cmd.pin_verified, at=cmd.at,
        )  # fmt: skip
    if cmd.wallet_id is None:
        raise Refused("a payment needs an authorisation", code="authorisation_required")
    return Consent(cmd.wallet_id, consume=None)


def spend(uow: UnitOfWork, cmd: c.Spend, receipt: UUID) -> Answer:
    payee = uow.account(cmd.payee_id, "payee")
    granted = _payer(uow, cmd, payee)
    if not isinstance(granted, Consent):
        return granted
    resident = uow.account(granted.wallet_id, "wallet")
    movement_id = _movement_id(receipt)
    movements.spend(
        resident, payee, cmd.amount, reference=cmd.reference, movement_id=movement_id, at=cmd.at
    )
    granted.consumed(movement_id, cmd.at)
    return 201, {
        "movement_id": str(movement_id),
        "wallet_id": str(resident.id),
        "amount": cmd.amount,
    }


def place_hold(uow: UnitOfWork, cmd: c.PlaceHold, receipt: UUID) -> Answer:
    payee = uow.account(cmd.payee_id, "payee")
    granted = _payer(uow, cmd, payee)
    if not isinstance(granted, Consent):
        return granted
    resident = uow.account(granted.wallet_id, "wallet")
    hold_id = _movement_id(receipt, "hold")
    expires_at = cmd.at + timedelta(seconds=cmd.ttl_seconds)
    holds.place_hold(
        resident,
        payee,
        cmd.amount,
        hold_id=hold_id,
        expires_at=expires_at,
        reference=cmd.reference,
        at=cmd.at,
    )
    granted.consumed(hold_id, cmd.at)
    return 201, {
        "hold_id": str(hold_id),
        "wallet_id": str(resident.id),
        "amount": cmd.amount,
        "expires_at": expires_at.isoformat(),
    }


def capture_hold(uow: UnitOfWork, cmd: c.CaptureHold, receipt: UUID) -> Answer:
    resident = uow.account(cmd.wallet_id, "wallet")
    payee = uow.account(cmd.payee_id, "payee")
    movement_id = _movement_id(receipt)
    captured = holds.capture(
        resident, payee, cmd.hold_id, amount=cmd.amount, movement_id=movement_id, at=cmd.at
    )
    return 200, {
        "hold_id": str(cmd.hold_id),
        "movement_id": str(movement_id),
        "captured": captured,
    }


def release_hold(uow: UnitOfWork, cmd: c.ReleaseHold, receipt: UUID) -> Answer:
    resident = uow.account(cmd.wallet_id, "wallet")
    released = holds.release(
        resident, cmd.hold_id, payee_id=cmd.payee_id, movement_id=_movement_id(receipt), at=cmd.at
    )
    return 200, {
        "hold_id": str(cmd.hold_id),
        "released": released,
    }


def expire_hold(uow: UnitOfWork, cmd: c.ExpireHold, receipt: UUID) -> Answer:
    resident = uow.account(cmd.wallet_id, "wallet")
    expired = holds.expire(resident, cmd.hold_id, movement_id=_movement_id(receipt), at=cmd.at)
    return 200, {"hold_id": str(cmd.hold_id), "expired": expired}


HANDLERS: dict[type[c.Command], Callable[[UnitOfWork, Any, UUID], Answer]] = {
    c.MintGenesis: mint_genesis,
    c.OpenBudget: open_budget,
    c.AllocateBudget: _treasury_transfer,
    c.ReturnBudget: _treasury_transfer,
    c.OpenPayee: open_payee,
    c.RegisterResident: register_resident,
    c.Grant: grant,
    c.Spend: spend,
    c.PlaceHold: place_hold,
    c.CaptureHold: capture_hold,
    c.ReleaseHold: release_hold,
    c.ExpireHold: expire_hold,
    **CONSENT_HANDLERS,
}
HANDLERS.update(CIRCULATION_HANDLERS)
HANDLERS.update(resident_handlers.HANDLERS)
HANDLERS.update(ERASURE_HANDLERS)
