"""Consent: the handlers that issue instruments, and :func:`authorise`, which a spend or a
hold calls to learn whose wallet pays and to consume the authorisation with the payment.

Consuming happens in the same unit of work as the movement, so one transaction stores both
(or neither): a code cannot be used twice, even by two wallet processes racing, because the
second save conflicts on the code's version and is decided again from the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ..domain.account import OPERATOR, RESIDENT, Account
from ..domain.errors import AccountNotFound, Refused, WrongAccountKind
from ..domain.instruments import (
    Authorisation,
    Card,
    CardAuthorisation,
    CardInvalid,
    CodeCollision,
    PaymentCodeAuthorisation,
    PaymentCodeInvalid,
    ShortCode,
    TransitPass,
    TransitPassAuthorisation,
    TransitPassInvalid,
)
from . import consent_commands as cc
from .unit_of_work import UnitOfWork

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Consent:
    """Whose wallet pays, and what records the authorisation used once the payment is
    decided (nothing for a standing one, such as a transit pass)."""

    wallet_id: UUID
    consume: Callable[[UUID, datetime], None] | None

    def consumed(self, movement_id: UUID, at: datetime) -> None:
        if self.consume is not None:
            self.consume(movement_id, at)


def authorise(
    uow: UnitOfWork,
    authorisation: Authorisation,
    *,
    payee: Account,
    wallet_id: UUID | None,
    pin_verified: bool,
    at: datetime,
) -> Consent | Answer:
    """The consent an authorisation gives, checked without changing anything; or, for a
    wrong PIN, the refusal already recorded on the card (an answer, not an exception: the
    failed attempt must be saved)."""
    consent: Consent | Answer
    if isinstance(authorisation, PaymentCodeAuthorisation):
        consent = _payment_code(uow, authorisation, at)
        invalid: type[Refused] = PaymentCodeInvalid
    elif isinstance(authorisation, CardAuthorisation):
        consent = _card(uow, authorisation, pin_verified, at)
        invalid = CardInvalid
    else:
        consent = _transit_pass(uow, authorisation, payee)
        invalid = TransitPassInvalid
    if isinstance(consent, Consent) and wallet_id not in (None, consent.wallet_id):
        raise invalid("this authorisation does not belong to that wallet")
    return consent


def instruments_read(authorisation: Authorisation) -> tuple[UUID, ...]:
    """The instruments :func:`authorise` reads for ``authorisation`` (a pass's card too: it
    is read when the pass is not linked), for the ledger to read a batch's at once."""
    if isinstance(authorisation, PaymentCodeAuthorisation):
        return (authorisation.code_id,)
    if isinstance(authorisation, CardAuthorisation):
        return (authorisation.card_id,)
    return (authorisation.pass_id, authorisation.card_id)


def _payment_code(uow: UnitOfWork, auth: PaymentCodeAuthorisation, at: datetime) -> Consent:
    code = uow.find(auth.code_id, ShortCode)
    if code is None:
        raise PaymentCodeInvalid("no such payment code")
    code.require_payable(at)
    return Consent(code.wallet_id, code.use)


def _card(
    uow: UnitOfWork, auth: CardAuthorisation, pin_verified: bool, at: datetime
) -> Consent | Answer:
    card = uow.find(auth.card_id, Card)
    if card is None:
        raise CardInvalid("no such card")
    card.require_unlocked()
    if not pin_verified:
        card.reject_pin(at)
        if card.locked:
            return 423, {
                "code": "card_locked",
                "reason": "wrong PIN; the card is now locked, see a municipal counter",
            }
        return 409, {
            "code": "pin_incorrect",
            "reason": "wrong PIN",
            "attempts_left": card.attempts_left,
        }
    return Consent(card.wallet_id, lambda _movement, when: card.accept_pin(when))


def _transit_pass(uow: UnitOfWork, auth: TransitPassAuthorisation, payee: Account) -> Consent:
    if payee.kind != OPERATOR:
        raise TransitPassInvalid("a transit pass pays the bus operator only")
    linked = uow.find(auth.pass_id, TransitPass)
    if linked is not None and linked.linked:
        return Consent(linked.wallet_id, None)
    card = uow.find(auth.card_id, Card)
    if card is None:
        raise TransitPassInvalid("no such transit pass")
    card.require_unlocked()
    return Consent(card.wallet_id, None)


# --- issuing instruments -------------------------------------------------------------------


def _resident(uow: UnitOfWork, wallet_id: UUID) -> Account:
    wallet = uow.find(wallet_id, Account)
    if wallet is None:
        raise AccountNotFound(f"wallet {wallet_id} does not exist")
    if wallet.kind != RESIDENT:
        raise WrongAccountKind("only a resident's wallet has consent instruments")
    return wallet


def issue_short_code(uow: UnitOfWork, cmd: cc.IssueShortCode, receipt: UUID) -> Answer:
    _resident(uow, cmd.wallet_id)
    expires_at = cmd.at + timedelta(seconds=cmd.ttl_seconds)
    code = uow.find(cmd.instrument_id, ShortCode, may_be_new=True)
    if code is None:
        uow.add(ShortCode.issue(cmd.instrument_id, cmd.purpose, cmd.wallet_id, expires_at, cmd.at))
    else:
        code.reissue(cmd.wallet_id, expires_at, cmd.at)
    return 201, {
        "wallet_id": str(cmd.wallet_id),
        "expires_at": expires_at.isoformat(),
        "sealed": cmd.sealed_secret,
    }


def link_transit_pass(uow: UnitOfWork, cmd: cc.LinkTransitPass, receipt: UUID) -> Answer:
    _resident(uow, cmd.wallet_id)
    if uow.find(cmd.instrument_id, TransitPass, may_be_new=True) is not None:
        raise CodeCollision("this pass is taken; draw another")
    uow.add(TransitPass.link(cmd.instrument_id, cmd.wallet_id, cmd.at))
    return 201, {"wallet_id": str(cmd.wallet_id), "sealed": cmd.sealed_secret}


def unlink_transit_pass(uow: UnitOfWork, cmd: cc.UnlinkTransitPass, receipt: UUID) -> Answer:
    linked = uow.find(cmd.pass_id, TransitPass)
    if linked is None or linked.wallet_id != cmd.wallet_id or not linked.linked:
        raise TransitPassInvalid("no such transit pass on this wallet", status=404)
    linked.unlink(cmd.at)
    return 200, {"wallet_id": str(cmd.wallet_id), "unlinked": True}


def issue_card(uow: UnitOfWork, cmd: cc.IssueCard, receipt: UUID) -> Answer:
    _resident(uow, cmd.wallet_id)
    if uow.find(cmd.instrument_id, Card, may_be_new=True) is not None:
        raise CodeCollision("this card number is taken; draw another")
    uow.add(
        Card.issue(
            cmd.instrument_id,
            cmd.wallet_id,
            pin_hash=cmd.pin_hash,
            pin_salt=cmd.pin_salt,
            at=cmd.at,
        )
    )
    return 201, {"wallet_id": str(cmd.wallet_id), "sealed": cmd.sealed_secret}


HANDLERS: dict[type[Any], Callable[[UnitOfWork, Any, UUID], Answer]] = {
    cc.IssuePaymentCode: issue_short_code,
    cc.IssueReceiveCode: issue_short_code,
    cc.LinkTransitPass: link_transit_pass,
    cc.UnlinkTransitPass: unlink_transit_pass,
    cc.IssueCard: issue_card,
}
