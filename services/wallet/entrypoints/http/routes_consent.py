"""Consent instruments over HTTP: payment codes, receive codes, transit passes and cards.

Residents create their own codes and passes (the wallet is the token's subject); a counter
prints cards. The edge draws each secret and hands the ledger only its keyed hash and a
sealed copy for the answer (see adapters/instrument_secrets.py). A drawn code that collides
with a live one is drawn again, under a key derived from the caller's, so that a retry of
the request still gets its first answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from fastapi import APIRouter, Depends
from fastapi.responses import Response

from kgo_runtime.direct_routes import DirectRoute

from ...adapters.instrument_secrets import (
    CARD,
    PAYMENT_CODE,
    RECEIVE_CODE,
    TRANSIT_PASS,
    InstrumentSecrets,
    draw_card_number,
    draw_code,
    draw_pass,
)
from ...adapters.personal_data import SealError
from ...application.commands import Command, Outcome
from ...application.consent_commands import (
    IssueCard,
    IssuePaymentCode,
    IssueReceiveCode,
    IssueShortCode,
    LinkTransitPass,
    UnlinkTransitPass,
)
from ...domain.instruments import (
    Authorisation,
    Card,
    CardAuthorisation,
    PaymentCodeAuthorisation,
    ShortCode,
    TransitPassAuthorisation,
)
from ..container import WalletContainer
from .api_models_consent import (
    QR_PREFIX,
    AuthorisationBody,
    CardAuth,
    CardRequest,
    IssuedCard,
    IssuedCode,
    LinkedPass,
    PaymentCodeAuth,
    ResolvedWallet,
    ResolveRequest,
)
from .auth import Role, own_account
from .context import Reader, Writer, reader, writer
from .problems import PROBLEM_RESPONSES, ProblemError, outcome_response

router = APIRouter(
    prefix="/v1", responses=PROBLEM_RESPONSES, tags=["consent"], route_class=DirectRoute
)

Resident = Annotated[Writer, Depends(writer(Role.RESIDENT))]
#: A drawn secret collides about once in 10^8 / (live codes) draws: a few tries are plenty.
DRAWS = 5


def secrets_of(wallet: WalletContainer) -> InstrumentSecrets:
    return InstrumentSecrets(wallet.vault)


async def _issue(
    write: Writer, draw: Callable[[], str], command: Callable[[str, dict[str, Any]], Command]
) -> tuple[Outcome, str]:
    """Submit the command for a freshly drawn secret, drawing again on a collision. Returns
    the outcome and the secret of its answer (unsealed from the receipt on a replay)."""
    for attempt in range(DRAWS):
        stamp = write.stamp()
        if attempt:
            stamp["idempotency_key"] = f"{write.idempotency_key}~draw{attempt}"
        outcome = await write.decide(command(draw(), stamp))
        if outcome.body.get("code") != "code_collision":
            break
    if not outcome.ok:
        return outcome, ""
    body = dict(outcome.body)
    try:
        secret = str(write.wallet.vault.unseal(body.pop("sealed"))["secret"])
    except SealError:
        # A replay of an answer sealed under a service key since destroyed (rotation): it
        # cannot be repeated; a new request (a new Idempotency-Key) gets a new secret.
        reason = "this request's first answer can no longer be repeated; send a new request"
        return Outcome(409, {"code": "answer_expired", "reason": reason}), ""
    return Outcome(outcome.status, body, outcome.replayed), secret


def _sealed(write: Writer, secret: str) -> str:
    return write.wallet.vault.seal({"secret": secret})


async def _short_code(write: Writer, cls: type[IssueShortCode], kind: str, ttl: int) -> Response:
    wallet_id = own_account(write.principal)
    ids = secrets_of(write.wallet)
    outcome, code = await _issue(
        write,
        draw_code,
        lambda code, stamp: cls(
            **stamp,
            wallet_id=wallet_id,
            ttl_seconds=ttl,
            instrument_id=ids.id_of(kind, code),
            sealed_secret=_sealed(write, code),
        ),
    )
    if outcome.ok:
        extra = {"qr_payload": QR_PREFIX + code} if kind == PAYMENT_CODE else {}
        outcome = Outcome(outcome.status, {"code": code, **extra, **outcome.body}, outcome.replayed)
    return outcome_response(outcome)


def _created(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {201: {"model": model, "description": "Created (a retry: the first answer)"}}


@router.post("/payment-codes", status_code=201, responses=_created(IssuedCode))
async def issue_payment_code(write: Resident) -> Response:
    """A resident's one-time payment code for its own wallet: 8 digits (and a QR payload),
    valid about two minutes, good for one spend or hold. No body."""
    ttl = write.wallet.settings.payment_code_ttl_seconds
    return await _short_code(write, IssuePaymentCode, PAYMENT_CODE, ttl)


@router.post("/receive-codes", status_code=201, responses=_created(IssuedCode))
async def issue_receive_code(write: Resident) -> Response:
    """A short-lived code a resident shows at a shop to be paid (refunds, rewards): it names
    the wallet, it authorises no payment out of it. No body."""
    ttl = write.wallet.settings.receive_code_ttl_seconds
    return await _short_code(write, IssueReceiveCode, RECEIVE_CODE, ttl)


@router.post("/receive-codes/resolve")
async def resolve_receive_code(
    body: ResolveRequest, read: Annotated[Reader, Depends(reader(Role.SERVICE))]
) -> ResolvedWallet:
    """The wallet a receive code (or a card number) names; 404 `receive_code_invalid` for an
    unknown or expired one. A read: no Idempotency-Key, nothing is consumed."""
    if (body.code is None) == (body.card_number is None):
        raise ProblemError(422, "invalid_request", "send exactly one of code or card_number")
    ids, wallet = secrets_of(read.wallet), read.wallet
    if body.code is not None:
        code = await _load(wallet, ids.id_of(RECEIVE_CODE, body.code), ShortCode)
        if code is not None and code.purpose == "receive" and code.is_live(wallet.clock.now()):
            return ResolvedWallet(wallet_id=code.wallet_id)
    else:
        card = await _load(wallet, ids.id_of(CARD, str(body.card_number)), Card)
        if card is not None:
            return ResolvedWallet(wallet_id=card.wallet_id)
    if wallet.metrics is not None:
        wallet.metrics.authorisation_misses.labels("receive_code").inc()
    raise ProblemError(404, "receive_code_invalid", "no such receive code, or it has expired")


@router.post("/transit-passes", status_code=201, responses=_created(LinkedPass))
async def link_transit_pass(write: Resident) -> Response:
    """A QR pass token linked to the resident's wallet: it pays bus fares (the operator
    only) until unlinked. No body."""
    wallet_id = own_account(write.principal)
    ids = secrets_of(write.wallet)
    outcome, token = await _issue(
        write,
        draw_pass,
        lambda token, stamp: LinkTransitPass(
            **stamp,
            wallet_id=wallet_id,
            instrument_id=ids.id_of(TRANSIT_PASS, token),
            sealed_secret=_sealed(write, token),
        ),
    )
    if outcome.ok:
        outcome = Outcome(outcome.status, {"pass": token, **outcome.body}, outcome.replayed)
    return outcome_response(outcome)


@router.delete("/transit-passes/{pass_token}")
async def unlink_transit_pass(pass_token: str, write: Resident) -> Response:
    """Unlink one of the resident's passes: fares are refused from now on (404
    `transit_pass_invalid` for a pass that is not this wallet's)."""
    return await write.submit(
        UnlinkTransitPass(
            **write.stamp(),
            wallet_id=own_account(write.principal),
            pass_id=secrets_of(write.wallet).id_of(TRANSIT_PASS, pass_token),
        )
    )


@router.post("/wallets/{wallet_id}/cards", status_code=201, responses=_created(IssuedCard))
async def issue_card(
    wallet_id: UUID,
    body: CardRequest,
    write: Annotated[Writer, Depends(writer(Role.COUNTER_STAFF, Role.MUNICIPAL_ADMIN))],
) -> Response:
    """Print a card for a resident without a smartphone, with the PIN the resident chose: it
    pays at shops with the PIN (five wrong in a row lock it) and rides the bus."""
    ids = secrets_of(write.wallet)
    pin_hash, pin_salt = await asyncio.to_thread(ids.hash_pin, body.pin)
    outcome, number = await _issue(
        write,
        draw_card_number,
        lambda number, stamp: IssueCard(
            **stamp,
            wallet_id=wallet_id,
            pin_fingerprint=ids.fingerprint("card-pin", str(wallet_id), body.pin),
            instrument_id=ids.id_of(CARD, number),
            sealed_secret=_sealed(write, number),
            pin_hash=pin_hash,
            pin_salt=pin_salt,
        ),
    )
    if outcome.ok:
        outcome = Outcome(outcome.status, {"card_number": number, **outcome.body}, outcome.replayed)
    return outcome_response(outcome)


# --- authorisations of payments ------------------------------------------------------------


async def authorisation_of(
    body: AuthorisationBody, wallet: WalletContainer
) -> tuple[Authorisation, bool]:
    """The authorisation the ledger gets (keyed hashes only), and whether a card's PIN is
    right: checked here, off the writer, against the card as last committed."""
    ids = secrets_of(wallet)
    if isinstance(body, PaymentCodeAuth):
        return PaymentCodeAuthorisation(code_id=ids.id_of(PAYMENT_CODE, body.code)), False
    if isinstance(body, CardAuth):
        card_id = ids.id_of(CARD, body.card_number)
        card = await _load(wallet, card_id, Card)
        verified = (
            card is not None
            and not card.locked
            and await asyncio.to_thread(ids.pin_matches, body.pin, card.pin_hash, card.pin_salt)
        )
        fingerprint = ids.fingerprint("card-pin", body.card_number, body.pin)
        return CardAuthorisation(card_id=card_id, pin_fingerprint=fingerprint), verified
    token = body.pass_token
    return TransitPassAuthorisation(
        pass_id=ids.id_of(TRANSIT_PASS, token),
        card_id=ids.id_of(CARD, token.replace("-", "")),
    ), False


async def _load(wallet: WalletContainer, instrument_id: UUID, kind: type[Any]) -> Any:
    def get() -> Any:
        try:
            found: Any = wallet.ledger.repository.get(instrument_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None

    return await asyncio.to_thread(get)
