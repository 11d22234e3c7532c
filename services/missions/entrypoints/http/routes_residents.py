"""A resident's missions with progress, completions and check-ins: the resident itself
(its own wallet only), operators and auditors."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends

from kgo_runtime.access import Role

from ...application.views import completion_body, standing_body
from .context import Reader, reader
from .problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/residents", tags=["residents"], responses=PROBLEM_RESPONSES)

Anyone = Annotated[
    Reader,
    Depends(reader(Role.MUNICIPAL_ADMIN, Role.PROGRAMME_OPERATOR, Role.AUDITOR, Role.RESIDENT)),
]


@router.get("/{wallet_id}/missions")
async def resident_missions(wallet_id: UUID, read: Anyone) -> dict[str, Any]:
    """Every mission open now, with the resident's progress in its current period, and what
    the resident received per campaign."""
    read.require_reader_of(wallet_id)
    missions = read.container.missions
    now = read.container.clock.now()
    standings = await read.run(missions.standings, wallet_id, now)
    completions = await read.run(missions.completions, wallet_id)
    received: dict[str, int] = {}
    for done in completions:
        received[done.campaign] = received.get(done.campaign, 0) + done.reward
    return {
        "wallet_id": str(wallet_id),
        "at": now.isoformat(),
        "missions": [standing_body(s) for s in standings],
        "received": received,
    }


@router.get("/{wallet_id}/completions")
async def resident_completions(wallet_id: UUID, read: Anyone) -> list[dict[str, Any]]:
    read.require_reader_of(wallet_id)
    return [
        completion_body(d) for d in await read.run(read.container.missions.completions, wallet_id)
    ]


@router.get("/{wallet_id}/check-ins")
async def resident_check_ins(wallet_id: UUID, read: Anyone) -> list[dict[str, Any]]:
    read.require_reader_of(wallet_id)
    facts = await read.run(read.container.missions.check_ins, wallet_id)
    return [
        {
            "check_in_id": f.fact_id,
            "activity_id": str(f.activity_id),
            "checked_in_at": f.at.isoformat(),
        }
        for f in facts
    ]
