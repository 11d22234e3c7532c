"""The catalogue: residents and auditors read it; operators publish, change, retire and
award by hand (a programme operator only for its own programme)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from kgo_runtime.access import Role

from ...application import commands as c
from ...application.views import mission_body
from .api_models import AwardRequest, MissionChangeRequest, MissionRequest, RetireRequest
from .context import Reader, Writer, reader, writer
from .problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/missions", tags=["missions"], responses=PROBLEM_RESPONSES)

READERS = (Role.MUNICIPAL_ADMIN, Role.PROGRAMME_OPERATOR, Role.AUDITOR, Role.RESIDENT)
Operator = Annotated[Writer, Depends(writer(Role.MUNICIPAL_ADMIN, Role.PROGRAMME_OPERATOR))]
Anyone = Annotated[Reader, Depends(reader(*READERS))]


@router.get("")
async def list_missions(read: Anyone, include_retired: bool = False) -> list[dict[str, Any]]:
    """The catalogue (the built-in sign-up mission first). Retired ones on request."""
    found = await read.run(read.container.missions.missions, include_retired=include_retired)
    return [mission_body(m) for m in found]


@router.get("/{mission_id}")
async def get_mission(mission_id: UUID, read: Anyone) -> dict[str, Any]:
    return mission_body(await read.run(read.container.missions.mission, mission_id))


@router.post("", status_code=201)
async def publish_mission(body: MissionRequest, write: Operator) -> JSONResponse:
    """Publish a mission: Thai and English title and description, reward, window, limit per
    period, campaign, paying programme and rule (validated here, 422 `invalid_mission`)."""
    return await write.submit(c.PublishMission(**write.stamp(), spec=body.data()))


@router.patch("/{mission_id}")
async def change_mission(
    mission_id: UUID, body: MissionChangeRequest, write: Operator
) -> JSONResponse:
    """A new revision; what residents already earned is not rewritten."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    return await write.submit(
        c.ChangeMission(**write.stamp(), mission_id=mission_id, changes=changes), status=200
    )


@router.post("/{mission_id}/retire")
async def retire_mission(mission_id: UUID, body: RetireRequest, write: Operator) -> JSONResponse:
    return await write.submit(
        c.RetireMission(**write.stamp(), mission_id=mission_id, reason=body.reason), status=200
    )


@router.post("/{mission_id}/awards", status_code=201)
async def award(mission_id: UUID, body: AwardRequest, write: Operator) -> JSONResponse:
    """Award a manual mission to a resident, with a reason (409 `mission_limit_reached`)."""
    return await write.submit(
        c.AwardManually(
            **write.stamp(), mission_id=mission_id, wallet_id=body.wallet_id, reason=body.reason
        )
    )
