"""What administrators call: routes, buses, campaigns and validators, passes taken off the
deny list (each write once per Idempotency-Key), and the network as it stands."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from kgo_runtime.access import Principal
from kgo_runtime.problems import problem_responses
from kgo_runtime.writes import receipt_scope

from ...application.admin import Decision, campaign_answer
from ...domain.fares import Campaign
from ..container import TransitContainer
from .api_models import BusBody, CampaignBody, RouteBody, ValidatorBody
from .context import Admin, IdempotencyKey, Reader, Transit, answer

router = APIRouter(tags=["network"])

WRITE_PROBLEMS = problem_responses(
    {
        404: "`not_found`: the route or bus named does not exist",
        409: "`already_exists`, or `idempotency_key_reused`",
        422: "`invalid_schedule`, or the body does not match the schema",
    }
)


async def _once(
    transit: TransitContainer,
    caller: Principal,
    key: str,
    command: str,
    body: dict[str, Any],
    decide: Any,
) -> JSONResponse:
    done = await transit.admin.once(receipt_scope(caller), key, command, body, decide)
    return answer(done.body, done.status, replayed=done.replayed)


@router.post("/routes", status_code=201, responses=WRITE_PROBLEMS)
async def open_route(
    body: RouteBody, caller: Admin, transit: Transit, key: IdempotencyKey
) -> JSONResponse:
    def decide() -> Decision:
        return transit.admin.open_route(body.route_id, body.name, body.length_km)

    return await _once(transit, caller, key, "open_route", body.model_dump(mode="json"), decide)


@router.post("/buses", status_code=201, responses=WRITE_PROBLEMS)
async def register_bus(
    body: BusBody, caller: Admin, transit: Transit, key: IdempotencyKey
) -> JSONResponse:
    def decide() -> Decision:
        return transit.admin.register_bus(body.bus_id, body.route_id)

    return await _once(transit, caller, key, "register_bus", body.model_dump(mode="json"), decide)


@router.post("/campaigns", status_code=201, responses=WRITE_PROBLEMS)
async def schedule_campaign(
    body: CampaignBody, caller: Admin, transit: Transit, key: IdempotencyKey
) -> JSONResponse:
    """A fare campaign: inside `[starts_at, ends_at]` (both inclusive, to the second) a ride
    costs `coins` plus `baht_satang`; `daily_cap` coin rides per pass per Bangkok day."""

    def decide() -> Decision:
        campaign = Campaign(
            body.campaign_id,
            body.starts_at,
            body.ends_at,
            body.coins,
            body.baht_satang,
            body.programme,
            body.daily_cap,
        )
        return transit.admin.schedule_campaign(campaign)

    command_body = body.model_dump(mode="json")
    return await _once(transit, caller, key, "schedule_campaign", command_body, decide)


@router.post("/validators", status_code=201, responses=WRITE_PROBLEMS)
async def register_validator(
    body: ValidatorBody, caller: Admin, transit: Transit, key: IdempotencyKey
) -> JSONResponse:
    """A validator on a bus, and its device credential `kgo_val_...`, shown this once (a
    replay of the same request answers without it: rotate to get a new one)."""

    def decide() -> Decision:
        return transit.admin.register_validator(body.validator_id, body.bus_id)

    command_body = body.model_dump(mode="json")
    return await _once(transit, caller, key, "register_validator", command_body, decide)


@router.post("/validators/{validator_id}/credential", responses=WRITE_PROBLEMS)
async def rotate_credential(
    validator_id: str, caller: Admin, transit: Transit, key: IdempotencyKey
) -> JSONResponse:
    """A new credential for the validator; the old one stops working (within seconds)."""

    def decide() -> Decision:
        return transit.admin.rotate_credential(validator_id)

    return await _once(transit, caller, key, "rotate", {"validator_id": validator_id}, decide)


@router.get("/network")
async def network(_caller: Reader, transit: Transit) -> dict[str, Any]:
    """Routes, buses, fare products (satang) and campaigns."""
    current = await asyncio.to_thread(transit.store.network)
    return {
        "routes": [vars(route) for route in current.routes.values()],
        "buses": [vars(bus) for bus in current.buses.values()],
        "fare_products": current.products,
        "campaigns": [campaign_answer(c) for c in current.campaigns.values()],
    }


@router.delete(
    "/deny-list/{pass_id}",
    responses=problem_responses(
        {
            404: "`not_denied`: the pass is not on the deny list",
            409: "`idempotency_key_reused`",
        }
    ),
)
async def reinstate_pass(
    pass_id: UUID,
    caller: Admin,
    transit: Transit,
    key: IdempotencyKey,
    reason: Annotated[
        Literal["shortfall_repaid", "appeal_upheld", "denied_in_error"],
        Query(description="Why: published with `PassReinstated`"),
    ],
) -> JSONResponse:
    """Take a pass (its `pass_id`, as in `PassDenied`) off the deny list: validators stop
    refusing it at their next download, `PassReinstated` is recorded, and the loss cover
    counted against the pass is forgiven (its offline allowance starts again)."""

    def decide() -> Decision:
        return transit.admin.reinstate_pass(pass_id, reason)

    body = {"pass_id": str(pass_id), "reason": reason}
    return await _once(transit, caller, key, "reinstate_pass", body, decide)
