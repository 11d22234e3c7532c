"""Handlers of residents' self-service commands (registered into ``handlers.HANDLERS``).

A wallet opened without a phone gets a ``phone_pending`` claim, keyed by its wallet id;
linking a phone later adds the phone's claim and a ``phone_linked`` claim beside it, so a
wallet takes a phone once, and only a wallet that had none.

Re-keying (``RekeyResident``) moves a wallet opened before per-resident data keys to the
layout of new ones; a legacy claim it superseded no longer blocks a registration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from ..domain.account import RESIDENT
from ..domain.errors import AlreadyExists, Refused, WrongAccountKind
from ..domain.identity import IdentityClaim, ResidentRecord, resident_record_id
from ..domain.ids import claim_id
from .resident_commands import LinkPhone, RekeyResident
from .unit_of_work import UnitOfWork

Answer = tuple[int, dict[str, Any]]

PHONE_PENDING = "phone_pending"
PHONE_LINKED = "phone_linked"


def phone_pending_claim(wallet_id: UUID) -> UUID:
    return claim_id(PHONE_PENDING, str(wallet_id))


def free_claim(uow: UnitOfWork, kind: str, blind_index: str, given: UUID | None) -> UUID:
    """The id a new claim on ``blind_index`` takes, refused if the person already has a
    wallet: under the id the blind-index table gave (``given``), or under the id derived from
    the index itself, the layout of wallets opened before erasure existed."""
    legacy = claim_id(kind, blind_index)
    new = given or legacy
    taken = uow.find(new, IdentityClaim, may_be_new=True) is not None
    # The legacy claim is never created here, so it must be read even in the fast path; once
    # re-keyed it counts no more (its wallet's claim of the new kind, if any, is ``new``).
    old = None if new == legacy else uow.find(legacy, IdentityClaim)
    if taken or (old is not None and not old.superseded):
        what = "national ID" if kind == "national_id" else "phone number"
        raise AlreadyExists(
            f"a wallet is already registered for this {what}", code="already_registered"
        )
    return new


def link_phone(uow: UnitOfWork, cmd: LinkPhone, receipt: UUID) -> Answer:
    pending = uow.find(phone_pending_claim(cmd.wallet_id), IdentityClaim)
    linked_id = claim_id(PHONE_LINKED, str(cmd.wallet_id))
    if pending is None or uow.find(linked_id, IdentityClaim, may_be_new=True) is not None:
        raise Refused("this wallet already has a phone number", code="phone_already_linked")
    wallet = uow.account(cmd.wallet_id, "wallet")
    wallet.require_active()
    phone_claim = free_claim(uow, "phone", cmd.phone_index, cmd.phone_claim)
    uow.add(
        IdentityClaim.claim(
            phone_claim,
            kind="phone",
            wallet_id=cmd.wallet_id,
            at=cmd.at,
            sealed_personal_data=cmd.sealed_phone,
            key_id=cmd.key_id,
        )
    )
    uow.add(IdentityClaim.claim(linked_id, kind=PHONE_LINKED, wallet_id=cmd.wallet_id, at=cmd.at))
    record = uow.find(resident_record_id(cmd.wallet_id), ResidentRecord)
    if record is None:  # a wallet opened before resident records existed
        uow.add(ResidentRecord.open(cmd.wallet_id, [phone_claim], cmd.at))
    else:
        record.add_claim(phone_claim, cmd.at)
    return 201, {"wallet_id": str(cmd.wallet_id), "phone_linked": True}


def rekey_resident(uow: UnitOfWork, cmd: RekeyResident, receipt: UUID) -> Answer:
    wallet = uow.account(cmd.wallet_id, "wallet")
    if wallet.kind != RESIDENT:
        raise WrongAccountKind("only a resident's wallet is re-keyed")
    legacy = [uow.find(c, IdentityClaim) for c in cmd.legacy_claims]
    if not legacy or any(c is None or c.wallet_id != cmd.wallet_id for c in legacy):
        raise Refused("not this wallet's legacy claims", code="claim_not_found", status=422)
    pending = [c for c in legacy if c is not None and not c.superseded]
    if not pending:
        raise Refused("this wallet was already re-keyed", code="already_rekeyed")
    new = [] if wallet.erased else [
        (claim, kind, sealed)
        for claim, kind, sealed in (
            (cmd.national_id_claim, "national_id", cmd.sealed_national_id),
            (cmd.phone_claim, "phone", cmd.sealed_phone),
        )
        if claim is not None
    ]  # fmt: skip
    for claim, _kind, _sealed in new:
        if uow.find(claim, IdentityClaim, may_be_new=True) is not None:
            raise AlreadyExists("a claim of the new kind already exists", code="claim_taken")
    record = uow.find(resident_record_id(cmd.wallet_id), ResidentRecord)
    # Every rule checked: now the changes.
    for old in pending:
        old.supersede(cmd.national_id_claim if new else None, cmd.at)
    for claim, kind, sealed in new:
        uow.add(IdentityClaim.claim(
            claim, kind=kind, wallet_id=cmd.wallet_id, at=cmd.at, sealed_personal_data=sealed,
            key_id=None if sealed is None else cmd.key_id,
        ))  # fmt: skip
    ids = [claim for claim, _kind, _sealed in new]
    if new and record is None:
        uow.add(ResidentRecord.open(cmd.wallet_id, ids, cmd.at))
    elif record is not None:
        for claim in ids:
            if claim not in record.claims:
                record.add_claim(claim, cmd.at)
    return 200, {
        "wallet_id": str(cmd.wallet_id),
        "superseded": len(pending),
        "claims": len(ids),
        "erased": wallet.erased,
    }


HANDLERS: dict[type[Any], Callable[[UnitOfWork, Any, UUID], Answer]] = {
    LinkPhone: link_phone,
    RekeyResident: rekey_resident,
}
