"""Ridership statements, trips, and the operator's settlements with the municipality."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from kgo_runtime.access import Principal, Role, allow
from kgo_runtime.problems import ProblemError, problem_responses

from ...application.admin import settlement_answer
from ...application.views import trip_view
from ...domain.trip import Trip
from .api_models import SettlementBody
from .context import READERS, IdempotencyKey, Reader, Transit, answer

router = APIRouter(tags=["statements"])

StatementReader = Annotated[Principal, Depends(allow(*READERS, Role.PAYEE))]


@router.get("/statements/ridership")
async def ridership(
    caller: StatementReader,
    transit: Transit,
    route_id: str | None = None,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Rides per route, Bangkok day and hour of the tap: coin rides and coins (to the
    operator), baht fares, offline rides, the loss budget's cover, declines by reason."""
    if caller.role == Role.PAYEE and caller.subject != str(transit.collector.operator_id):
        raise ProblemError(403, "forbidden", "only the bus operator's own payee token")
    rows = await transit.ridership.read(route_id=route_id, first=first, last=last)
    totals = {
        name: sum(row[name] for row in rows)
        for name in ("rides", "coin_rides", "coins", "baht_satang", "shortfall_covered")
    }
    return {
        "rows": rows,
        "totals": totals,
        "pending_trips": await transit.ridership.pending_trips(),
    }


@router.get("/trips/{trip_id}", responses=problem_responses({404: "No such trip"}))
async def trip(trip_id: UUID, _caller: Reader, transit: Transit) -> dict[str, Any]:
    found = await asyncio.to_thread(transit.store.find, trip_id, Trip)
    if found is None:
        raise ProblemError(404, "not_found", "no such trip")
    view = trip_view(found)
    return view.answer() | {
        "validator_id": found.tap.validator_id,
        "bus_id": found.tap.bus_id,
        "route_id": found.tap.route_id,
    }


@router.post(
    "/settlements",
    status_code=201,
    responses=problem_responses(
        {
            409: "`insufficient_funds`: the operator holds fewer coins; "
            "`idempotency_key_reused`: this payment reference was settled with other figures",
            503: "`wallet_unavailable`: retry with the same request",
        }
    ),
    dependencies=[Depends(allow(Role.MUNICIPAL_ADMIN))],
)
async def settle(body: SettlementBody, transit: Transit, _key: IdempotencyKey) -> JSONResponse:
    """The operator's coins back to a programme budget for the baht the programme paid it
    (by `payment_reference`, once: the same reference again answers the first settlement)."""
    settlement, replayed = await transit.settlements.settle(
        programme=body.programme,
        coins=body.coins,
        baht_satang=body.baht_satang,
        payment_reference=body.payment_reference,
    )
    return answer(settlement_answer(settlement), 201, replayed=replayed)
