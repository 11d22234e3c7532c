"""The treasury: the one-time genesis, the supply, and the programme budgets."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from kgo_runtime.direct_routes import DirectRoute

from ...application.commands import AllocateBudget, MintGenesis, OpenBudget, ReturnBudget
from ...domain.account import BUDGET
from ...domain.ids import budget_id
from .api_models import BudgetTransferRequest, BudgetView, OpenBudgetRequest
from .auth import Role, require_programme
from .context import Reader, Writer, reader, writer
from .problems import PROBLEM_RESPONSES, ProblemError

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, route_class=DirectRoute)

ADMIN = Role.MUNICIPAL_ADMIN
ProgrammePath = Annotated[str, Path(pattern=r"^[a-z0-9-]{2,40}$")]
Admin = Annotated[Writer, Depends(writer(ADMIN))]
BudgetReader = Annotated[Reader, Depends(reader(ADMIN, Role.AUDITOR, Role.PROGRAMME_OPERATOR))]


@router.post("/treasury/genesis", status_code=201, tags=["treasury"])
async def mint_genesis(write: Admin) -> Response:
    """Mint the fixed supply (1,000,000 KGO) to the issuer and hand it to the municipality.
    Once ever: a second genesis is refused with `already_minted`."""
    return await write.submit(MintGenesis(**write.stamp()))


@router.get("/treasury/supply", tags=["treasury"])
async def supply(read: Annotated[Reader, Depends(reader(ADMIN, Role.AUDITOR))]) -> dict[str, Any]:
    """Where the supply is: minted, at the municipality, in budgets, with residents, at payees."""
    return await read.wallet.directory.supply()


@router.post("/budgets", status_code=201, tags=["budgets"])
async def open_budget(body: OpenBudgetRequest, write: Admin) -> Response:
    return await write.submit(
        OpenBudget(**write.stamp(), programme=body.programme, label=body.label)
    )


@router.get("/budgets", tags=["budgets"])
async def list_budgets(read: BudgetReader) -> dict[str, list[dict[str, Any]]]:
    """Every programme budget (a programme operator bound to a programme sees only its own)."""
    budgets = await read.wallet.directory.budgets()
    subject = read.principal.subject if read.principal.role is Role.PROGRAMME_OPERATOR else None
    return {"budgets": [b for b in budgets if subject in (None, b.get("programme"))]}


@router.get("/budgets/{programme}", tags=["budgets"])
async def get_budget(programme: ProgrammePath, read: BudgetReader) -> BudgetView:
    """A programme budget's balance, from the ledger's committed state."""
    require_programme(read.principal, programme)
    account = await asyncio.to_thread(read.wallet.ledger.account, budget_id(programme))
    if account is None or account.kind != BUDGET:
        raise ProblemError(404, "budget_not_found", f"no budget for programme {programme!r}")
    return BudgetView(
        account_id=account.id,
        programme=programme,
        label=account.label,
        available=account.available,
        held=account.held,
    )


@router.post("/budgets/{programme}/allocations", status_code=201, tags=["budgets"])
async def allocate(programme: ProgrammePath, body: BudgetTransferRequest, write: Admin) -> Response:
    """Move coins from the municipality to a programme budget."""
    return await write.submit(
        AllocateBudget(**write.stamp(), programme=programme, amount=body.amount, memo=body.memo)
    )


@router.post("/budgets/{programme}/returns", status_code=201, tags=["budgets"])
async def give_back(
    programme: ProgrammePath, body: BudgetTransferRequest, write: Admin
) -> Response:
    """Move unused coins from a programme budget back to the municipality."""
    return await write.submit(
        ReturnBudget(**write.stamp(), programme=programme, amount=body.amount, memo=body.memo)
    )
