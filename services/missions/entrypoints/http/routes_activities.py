"""Municipal activities: operators schedule them, show their check-in code, and record
attendees (the bulk award); residents check in with the code."""

from __future__ import annotations

import io
from typing import Annotated, Any
from uuid import UUID

import segno
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from kgo_runtime.access import Role, forbidden
from kgo_runtime.problems import ProblemError
from kgo_runtime.wallet_client import WalletUnavailable

from ...application import commands as c
from ...application.views import activity_body
from .api_models import ActivityRequest, AttendanceRequest, CheckInRequest
from .context import Reader, Writer, reader, writer
from .problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/activities", tags=["activities"], responses=PROBLEM_RESPONSES)

OPERATORS = (Role.MUNICIPAL_ADMIN, Role.PROGRAMME_OPERATOR)
Operator = Annotated[Writer, Depends(writer(*OPERATORS))]
OperatorReader = Annotated[Reader, Depends(reader(*OPERATORS))]
Anyone = Annotated[Reader, Depends(reader(*OPERATORS, Role.AUDITOR, Role.RESIDENT))]
Resident = Annotated[Writer, Depends(writer(Role.RESIDENT))]


@router.post("", status_code=201)
async def schedule_activity(body: ActivityRequest, write: Operator) -> JSONResponse:
    """Schedule an activity; it comes with its mission (one check-in per resident, paid from
    the activities programme)."""
    return await write.submit(c.ScheduleActivity(**write.stamp(), **body.model_dump()))


@router.get("")
async def list_activities(read: Anyone) -> list[dict[str, Any]]:
    return [activity_body(a) for a in await read.run(read.container.missions.activities)]


@router.get("/{activity_id}")
async def get_activity(activity_id: UUID, read: Anyone) -> dict[str, Any]:
    return activity_body(await read.run(read.container.missions.activity, activity_id))


async def _current_code(activity_id: UUID, read: Reader) -> dict[str, Any]:
    activity = await read.run(read.container.missions.activity, activity_id)
    if read.principal.role is Role.PROGRAMME_OPERATOR and read.principal.subject not in (
        None,
        activity.programme,
    ):
        raise forbidden(f"this token acts for programme {read.principal.subject!r} only")
    code, until = activity.code_at(read.container.clock.now())
    return {
        "activity_id": str(activity_id),
        "code": code,
        "qr_payload": f"kgo:check-in:{activity_id}:{code}",
        "valid_until": until.isoformat() if until else activity.ends_at.isoformat(),
    }


@router.get("/{activity_id}/code")
async def check_in_code(activity_id: UUID, read: OperatorReader) -> dict[str, Any]:
    """The code to show now, and ``qr_payload`` to print as a QR code (``/code.svg``); a
    rotating code answers when it stops being current."""
    return await _current_code(activity_id, read)


@router.get(
    "/{activity_id}/code.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The QR code"}},
)
async def check_in_qr(activity_id: UUID, read: OperatorReader) -> Response:
    """The current check-in code as a printable QR code (SVG); residents' apps scan it."""
    current = await _current_code(activity_id, read)
    image = io.BytesIO()
    segno.make(current["qr_payload"], error="m").save(image, kind="svg", scale=8, border=2)
    return Response(
        image.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


@router.post("/{activity_id}/check-ins", status_code=201)
async def check_in(activity_id: UUID, body: CheckInRequest, write: Resident) -> JSONResponse:
    """A resident checks in with the code shown at the activity: once, inside its window.
    Refusals: `activity_not_open`, `check_in_code_invalid`, `already_checked_in`, and 429
    `too_many_attempts` after repeated wrong codes."""
    code = body.code.rsplit(":", 1)[-1]  # a scanned qr_payload works as well as the code
    try:
        wallet_id = UUID(str(write.principal.subject))
    except ValueError:
        raise forbidden("this token is not bound to a wallet") from None
    return await write.submit(
        c.CheckInWithCode(**write.stamp(), activity_id=activity_id, wallet_id=wallet_id, code=code)
    )


@router.post("/{activity_id}/attendance", status_code=201)
async def record_attendance(
    activity_id: UUID, body: AttendanceRequest, write: Operator
) -> JSONResponse:
    """An operator pays one attendee (what `kgo missions award` calls per row): 404
    `resident_unknown` or `card_unknown`, 409 `already_checked_in` for a second time."""
    wallet_id = body.wallet_id or await _card_holder(write, str(body.card_number))
    return await write.submit(
        c.RecordAttendance(**write.stamp(), activity_id=activity_id, wallet_id=wallet_id)
    )


async def _card_holder(write: Writer, card_number: str) -> UUID:
    cards = write.container.cards
    if cards is None:
        raise ProblemError(422, "cards_not_accepted", "name attendees by wallet_id here")
    try:
        wallet_id = await cards.resolve(card_number)
    except WalletUnavailable:
        raise ProblemError(
            503, "wallet_unavailable", "cards cannot be looked up now; retry with the same key",
            headers={"Retry-After": "1"},
        ) from None  # fmt: skip
    if wallet_id is None:
        raise ProblemError(404, "card_unknown", "the wallet knows no such card")
    return wallet_id
