"""Accounts: shops and the bus operator (payees), residents' wallets, and reading a balance."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from kgo_runtime.direct_routes import DirectRoute

from ...application.commands import OpenPayee, RegisterResident
from ...application.resident_data import DataRefused
from .api_models import HoldView, OpenPayeeRequest, RegisterResidentRequest, WalletView
from .auth import Role, require_reader_of
from .context import Reader, Writer, reader, writer
from .problems import PROBLEM_RESPONSES, ProblemError

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, route_class=DirectRoute)

ADMIN = Role.MUNICIPAL_ADMIN
WalletReader = Annotated[
    Reader,
    Depends(reader(ADMIN, Role.AUDITOR, Role.SERVICE, Role.PAYEE, Role.RESIDENT)),
]


@router.post("/payees", status_code=201, tags=["accounts"])
async def open_payee(
    body: OpenPayeeRequest, write: Annotated[Writer, Depends(writer(ADMIN, Role.SERVICE))]
) -> Response:
    """Open the account of a shop or the bus operator; its id derives from (kind, external_ref)."""
    return await write.submit(
        OpenPayee(**write.stamp(), kind=body.kind, external_ref=body.external_ref, label=body.label)
    )


@router.post("/residents", status_code=201, tags=["accounts"])
async def register_resident(
    body: RegisterResidentRequest,
    write: Annotated[Writer, Depends(writer(ADMIN, Role.SERVICE))],
) -> Response:
    """Open a resident's wallet: one per national ID and one per phone number
    (`already_registered` otherwise). The personal data is sealed here, before the ledger,
    under the resident's own data key."""
    personal = body.personal_data()
    return await write.submit(
        await registration(
            write, national_id=body.national_id, phone=body.phone, personal=personal,
            sealed_extra={}, digest_extra={},
        )
    )  # fmt: skip


async def registration(write: Writer, **fields: Any) -> RegisterResident:
    """The ledger's command for a registration, its data sealed (409 if the person was
    erased and may not register again)."""
    try:
        return await write.wallet.resident_data.registration(write.stamp(), **fields)
    except DataRefused as refused:
        raise ProblemError(refused.status, refused.code, refused.reason) from None


@router.get("/wallets/{wallet_id}", tags=["accounts"])
async def get_wallet(wallet_id: UUID, read: WalletReader) -> WalletView:
    """An account's balance and open holds. Residents and payees read only their own (403)."""
    require_reader_of(read.principal, wallet_id)
    account = await asyncio.to_thread(read.wallet.ledger.account, wallet_id)
    if account is None:
        raise ProblemError(404, "wallet_not_found", f"no wallet {wallet_id}")
    holds = [
        HoldView(
            hold_id=UUID(hold_id),
            amount=hold["amount"],
            payee_id=UUID(hold["payee"]),
            expires_at=hold["expires_at"],
            reference=hold["reference"],
        )
        for hold_id, hold in sorted(account.holds.items())
    ]
    return WalletView(
        wallet_id=account.id,
        kind=account.kind,
        label=account.label,
        available=account.available,
        held=account.held,
        holds=holds,
    )
