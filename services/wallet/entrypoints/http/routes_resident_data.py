"""Residents' rights over their personal data (Thailand's PDPA): a copy of everything the
wallet holds about them (an access request), and erasure (crypto-shredding)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from pydantic import Field, StringConstraints

from kgo_runtime.direct_routes import DirectRoute

from ...application.resident_data import DataRefused, ResidentData
from .api_models import Body, Text
from .auth import Role, own_account
from .context import Reader, Writer, reader, writer
from .problems import PROBLEM_RESPONSES, ProblemError, outcome_response

router = APIRouter(
    prefix="/v1", tags=["residents"], responses=PROBLEM_RESPONSES, route_class=DirectRoute
)

ADMIN = Role.MUNICIPAL_ADMIN
#: A case number: no spaces, so no name fits in it (it is published in ResidentErased).
Reference = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,79}$"),
    Field(examples=["PDPA-2026-0042"]),
]


class ErasureRequest(Body):
    reason: Text = Field(description="Why (kept in the wallet's erasure log, never published).")
    reference: Reference = Field(description="The request's case number (published).")


async def _download(data: ResidentData, wallet_id: UUID) -> JSONResponse:
    try:
        body: dict[str, Any] = await data.download(wallet_id)
    except DataRefused as refused:
        raise ProblemError(refused.status, refused.code, refused.reason) from None
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/me/data")
async def my_data(read: Annotated[Reader, Depends(reader(Role.RESIDENT))]) -> JSONResponse:
    """Everything the wallet holds about the signed-in resident, as JSON: personal data
    (unsealed), the account and every movement as published. An erased resident's answer
    says so and holds no personal data."""
    return await _download(read.wallet.resident_data, own_account(read.principal))


@router.get("/residents/{wallet_id}/data")
async def resident_data(
    wallet_id: UUID, read: Annotated[Reader, Depends(reader(ADMIN))]
) -> JSONResponse:
    """The same, for an administrator answering a resident's request."""
    return await _download(read.wallet.resident_data, wallet_id)


@router.post("/residents/{wallet_id}/erasure", status_code=200)
async def erase_resident(
    wallet_id: UUID, body: ErasureRequest, write: Annotated[Writer, Depends(writer(ADMIN))]
) -> Response:
    """Erase a resident: the wallet is frozen (or its coins returned, per
    `WALLET_ERASURE_BALANCE`) and `ResidentErased` published; then the resident's data key and
    blind indexes are destroyed, so their sealed data is unreadable everywhere it is stored.
    409 `holds_open` while coins are held; 409 `already_erased` (the keys are destroyed again)."""
    outcome = await write.wallet.resident_data.erase(
        write.stamp(), wallet_id=wallet_id, reason=body.reason, reference=body.reference
    )
    return outcome_response(outcome)
