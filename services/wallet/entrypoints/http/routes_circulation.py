"""Circulation: coins a shop or the bus operator holds flow on — back to residents (refunds,
rewards), back to programme budgets (settlements, for baht paid outside KGO) — and a loss
budget covers the fare an offline rider could not pay.

Role ``service`` only (the merchant and transit services, which decided the thing and
derive the Idempotency-Key from their own id for it). Answers name the movement and never
carry a balance.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import Field, model_validator

from kgo_runtime.direct_routes import DirectRoute

from ...application.circulation import CoverShortfall, Refund, Reward, Settle
from ...domain.circulation import OFFLINE_LOSS_PROGRAMME
from .api_models import Body, Coins, Programme, Text
from .auth import Role
from .context import Writer, writer
from .problems import PROBLEM_RESPONSES

router = APIRouter(
    prefix="/v1", responses=PROBLEM_RESPONSES, tags=["circulation"], route_class=DirectRoute
)

Service = Annotated[Writer, Depends(writer(Role.SERVICE))]
#: Baht in satang; at most 10 million baht in one settlement.
Satang = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000, description="Satang")]


class RefundRequest(Body):
    payee_id: UUID = Field(description="The shop (or bus operator) paying the coins back.")
    wallet_id: UUID
    amount: Coins
    reference: Text = Field(description="E.g. the voided redemption's id.")


class RewardRequest(Body):
    wallet_id: UUID
    amount: Coins
    reference: Text
    payee_id: UUID | None = Field(default=None, description="Reward from this shop's balance.")
    programme: Programme | None = Field(
        default=None, description="Or: reward from this matching budget (a grant)."
    )
    reason: Text = Field(default="matching reward", description="A grant's reason (programme).")

    @model_validator(mode="after")
    def _one_source(self) -> RewardRequest:
        if (self.payee_id is None) == (self.programme is None):
            raise ValueError("give exactly one of payee_id (a shop's own coins) and programme")
        return self


class SettlementRequest(Body):
    payee_id: UUID = Field(description="The shop or bus operator returning coins.")
    amount: Coins
    programme: Programme = Field(description="The budget the coins go back to.")
    baht_satang: Satang = Field(description="What the programme pays for them outside KGO.")
    payment_reference: Text = Field(description="The programme's reference of that payment.")


class ShortfallRequest(Body):
    programme: Programme = OFFLINE_LOSS_PROGRAMME
    payee_id: UUID = Field(description="The bus operator.")
    wallet_id: UUID = Field(description="The rider whose offline fare could not be collected.")
    amount: Coins
    reference: Text = Field(description="The trip.")


@router.post("/refunds", status_code=201)
async def refund(body: RefundRequest, write: Service) -> Response:
    """Coins back from a shop to a resident, e.g. for a voided redemption. 409
    `insufficient_funds` if the shop no longer holds that many."""
    return await write.submit(Refund(**write.stamp(), **body.model_dump()))


@router.post("/rewards", status_code=201)
async def reward(body: RewardRequest, write: Service) -> Response:
    """A reward to a resident: from a shop's own balance (`payee_id`; 409
    `insufficient_funds`) or from a matching budget (`programme`: a grant; 409
    `budget_exhausted`, the refusal recorded on the budget)."""
    return await write.submit(Reward(**write.stamp(), **body.model_dump()))


@router.post("/settlements", status_code=201)
async def settle(body: SettlementRequest, write: Service) -> Response:
    """A shop or the bus operator returns coins to a programme budget, which pays
    `baht_satang` for them outside KGO. 409 `insufficient_funds`."""
    return await write.submit(Settle(**write.stamp(), **body.model_dump()))


@router.post("/shortfalls", status_code=201)
async def cover_shortfall(body: ShortfallRequest, write: Service) -> Response:
    """A loss budget (default `offline-loss`) pays the bus operator the fare an offline rider's
    wallet no longer held; the rider's wallet is named, not debited. 409 `budget_exhausted`."""
    return await write.submit(CoverShortfall(**write.stamp(), **body.model_dump()))
