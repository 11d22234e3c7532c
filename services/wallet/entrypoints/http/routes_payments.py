"""Coins moving to and from residents: grants, spends, and holds (place, capture, release).

Only another city service (merchant, transit) takes coins out of a wallet, and only with the
resident's ``authorisation``: a payment code, a card and its PIN, or a transit pass. The
wallet resolves the paying wallet from it and consumes it in the same transaction as the
payment. Payee tokens have no debit rights. The answers name the wallet, never its balance.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse, Response

from kgo_runtime.direct_routes import DirectRoute

from ...application.commands import CaptureHold, Grant, PlaceHold, ReleaseHold, Spend
from .api_models import CaptureRequest, GrantRequest, ReleaseRequest
from .api_models_consent import (
    BatchSpend,
    HoldAnswer,
    HoldRequest,
    SpendAnswer,
    SpendBatchAnswer,
    SpendBatchRequest,
    SpendRequest,
)
from .auth import Role, require_programme
from .context import BatchWriter, Writer, batch_writer, writer
from .problems import PROBLEM_RESPONSES, ProblemError
from .routes_consent import authorisation_of

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, route_class=DirectRoute)
log = logging.getLogger(__name__)

Payer = Annotated[Writer, Depends(writer(Role.SERVICE))]


@router.post("/grants", status_code=201, tags=["payments"])
async def grant(
    body: GrantRequest,
    write: Annotated[Writer, Depends(writer(Role.PROGRAMME_OPERATOR, Role.SERVICE))],
) -> Response:
    """Grant coins from a programme budget to a resident. An exhausted budget answers 409
    `budget_exhausted`, and the refusal is recorded on the budget."""
    require_programme(write.principal, body.programme)
    return await write.submit(Grant(**write.stamp(), **body.model_dump()))


@router.post("/spends", status_code=201, tags=["payments"], responses={201: {"model": SpendAnswer}})
async def spend(body: SpendRequest, write: Payer) -> Response:
    """Pay a shop or the bus operator from the wallet of the `authorisation` (409
    `insufficient_funds`, `payment_code_invalid|expired|used`, `pin_incorrect`,
    `card_invalid`, `transit_pass_invalid`; 423 `card_locked`)."""
    authorisation, pin_verified = await authorisation_of(body.authorisation, write.wallet)
    return await write.submit(
        Spend(
            **write.stamp(),
            **body.model_dump(exclude={"authorisation"}),
            authorisation=authorisation,
            pin_verified=pin_verified,
        )
    )


@router.post("/spends/batch", tags=["payments"], responses={200: {"model": SpendBatchAnswer}})
async def spend_batch(
    body: SpendBatchRequest, batch: Annotated[BatchWriter, Depends(batch_writer(Role.SERVICE))]
) -> Response:
    """Up to 100 spends in one request (transit's taps of a moment): each is exactly the
    `POST /v1/spends` of its body and `idempotency_key`, authorised and refused on its own,
    and answered in `results` in the same order with the status that request would have had.
    The ledger decides those that arrive together in one transaction."""
    results = await asyncio.gather(*(_spend_of(batch, item) for item in body.spends))
    return JSONResponse({"results": results})


async def _spend_of(batch: BatchWriter, item: BatchSpend) -> dict[str, Any]:
    write = batch.item(item.idempotency_key)
    try:
        authorisation, pin_verified = await authorisation_of(item.authorisation, write.wallet)
        outcome = await write.decide(
            Spend(
                **write.stamp(),
                **item.model_dump(exclude={"authorisation", "idempotency_key"}),
                authorisation=authorisation,
                pin_verified=pin_verified,
            )
        )
    except ProblemError as error:  # not decided (the store, a deadline): retry this one
        return {"status": error.status, "code": error.code, "detail": error.detail}
    except Exception:  # a bug: this spend's answer only, as its own request would have had
        log.exception("a spend of a batch failed")
        return {"status": 500, "code": "internal_error", "detail": "the wallet could not answer"}
    answer: dict[str, Any] = {"status": outcome.status, "replayed": outcome.replayed}
    if outcome.ok:
        return answer | {k: outcome.body[k] for k in ("movement_id", "wallet_id", "amount")}
    return answer | {
        "code": str(outcome.body.get("code", "refused")),
        "detail": str(outcome.body.get("reason", "")),
    }


@router.post("/holds", status_code=201, tags=["payments"], responses={201: {"model": HoldAnswer}})
async def place_hold(body: HoldRequest, write: Payer) -> Response:
    """Set coins aside for a payee until captured, released, or expired; authorised and
    refused like a spend."""
    authorisation, pin_verified = await authorisation_of(body.authorisation, write.wallet)
    ttl = body.ttl_seconds or write.wallet.settings.default_hold_ttl_seconds
    return await write.submit(
        PlaceHold(
            **write.stamp(),
            **body.model_dump(exclude={"authorisation", "ttl_seconds"}),
            ttl_seconds=ttl,
            authorisation=authorisation,
            pin_verified=pin_verified,
        )
    )


@router.post("/wallets/{wallet_id}/holds/{hold_id}/capture", tags=["payments"])
async def capture_hold(
    wallet_id: UUID, hold_id: UUID, body: CaptureRequest, write: Payer
) -> Response:
    """Take all of a hold (or `amount` of it) for its payee; the rest goes back to the wallet."""
    return await write.submit(
        CaptureHold(**write.stamp(), wallet_id=wallet_id, hold_id=hold_id, **body.model_dump())
    )


@router.post("/wallets/{wallet_id}/holds/{hold_id}/release", tags=["payments"])
async def release_hold(
    wallet_id: UUID,
    hold_id: UUID,
    write: Payer,
    body: Annotated[ReleaseRequest | None, Body()] = None,
) -> Response:
    """Give a hold's coins back to the wallet. The body may be omitted."""
    return await write.submit(
        ReleaseHold(
            **write.stamp(),
            wallet_id=wallet_id,
            hold_id=hold_id,
            payee_id=body.payee_id if body else None,
        )
    )
