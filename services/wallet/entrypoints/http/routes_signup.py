"""Residents open their wallet: on their phone (signup, confirmed by a one-time code), or
at a municipal counter with staff (no smartphone needed; a printed card comes next, and the
resident may link a phone later, confirmed by a code too)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response

from kgo_runtime.direct_routes import DirectRoute

from ...application.resident_access import AccessRefused
from ...domain.resident_access import Purpose
from .api_models_residents import (
    AssistedSignupRequest,
    CodeRequest,
    PhoneLinkRequest,
    PhoneLinkStarted,
    SessionView,
    SignupRequest,
    SignupStarted,
)
from .auth import Role, require_reader_of
from .context import Writer, writer
from .problems import PROBLEM_RESPONSES, ProblemError
from .routes_residents import registration
from .self_service import (
    Anonymous,
    anonymous,
    answer,
    client_address,
    problem,
    residents,
    session_answer,
)

router = APIRouter(
    prefix="/v1", tags=["residents"], responses=PROBLEM_RESPONSES, route_class=DirectRoute
)

Caller = Annotated[Anonymous, Depends(anonymous)]
COUNTER = (Role.COUNTER_STAFF, Role.MUNICIPAL_ADMIN)


@router.post("/signups", status_code=202, response_model=SignupStarted)
async def start_signup(body: SignupRequest, caller: Caller) -> JSONResponse:
    """Start a signup (no token needed): a one-time code goes to the phone."""
    try:
        started = await caller.residents.begin_signup(
            national_id=body.national_id,
            phone=body.phone,
            terms_version=body.consent.terms_version,
            client=caller.client,
            key=caller.key,
        )
    except AccessRefused as refused:
        raise problem(refused) from None
    view = SignupStarted(signup_id=started.challenge_id, expires_at=started.expires_at)
    return answer(view.model_dump(mode="json"), 202, replayed=started.replayed)


#: The app's own id of the device it runs on (optional): counted, never published as such.
DEVICE_HEADER = "X-KGO-Device"
Device = Annotated[
    str | None,
    Header(
        alias=DEVICE_HEADER,
        min_length=1,
        max_length=128,
        pattern=r"^[!-~]+$",
        description="The app's id of this device (1-128 printable ASCII characters, e.g. a "
        "random UUID the app keeps). Optional. The wallet never stores or publishes it: the "
        "wallet's AccountOpened carries only `origin_device`, a keyed hash of it with a key "
        "of the Bangkok day, beside `origin_network` (the same of the caller's /24 or /56), "
        "so that many sign-ups from one device or network can be flagged to operators.",
    ),
]


@router.post("/signups/{signup_id}/confirm", status_code=201, response_model=SessionView)
async def confirm_signup(
    signup_id: UUID, body: CodeRequest, caller: Caller, device: Device = None
) -> JSONResponse:
    """The code sent to the phone: the wallet opens, with the consent recorded, and the
    resident is signed in (409 ``already_registered`` if the ID or phone has a wallet)."""
    try:
        session = await caller.residents.confirm(
            Purpose.SIGNUP, signup_id, body.code, client=caller.client, key=caller.key,
            device=device,
        )  # fmt: skip
    except AccessRefused as refused:
        raise problem(refused) from None
    return session_answer(session, 201)


@router.post("/residents/assisted", status_code=201)
async def register_at_counter(
    body: AssistedSignupRequest, write: Annotated[Writer, Depends(writer(*COUNTER))]
) -> Response:
    """Counter staff open a resident's wallet (phone optional), with the consent the resident
    gave at the counter. Next: the printed card, ``POST /v1/wallets/{wallet_id}/cards``."""
    terms = write.wallet.settings.terms_version
    if body.consent.terms_version != terms:
        raise ProblemError(409, "terms_not_current", "accept the programme's current terms",
                           terms_version=terms)  # fmt: skip
    consent = {
        "terms_version": terms,
        "accepted_at": write.wallet.clock.now().isoformat(),
        "channel": "counter",
        "recorded_by": write.principal.caller,
    }
    return await write.submit(
        await registration(
            write, national_id=body.national_id, phone=body.phone,
            personal=body.personal_data(), sealed_extra={"consent": consent},
            # The digest (part of the request's identity) leaves out the consent's time, so a
            # retry with the same key and body is the same request.
            digest_extra={"terms_version": terms},
        )
    )  # fmt: skip


@router.post("/wallets/{wallet_id}/phone-links", status_code=202, response_model=PhoneLinkStarted)
async def start_phone_link(
    wallet_id: UUID,
    body: PhoneLinkRequest,
    request: Request,
    write: Annotated[Writer, Depends(writer(*COUNTER, Role.RESIDENT))],
) -> JSONResponse:
    """Link a phone to a wallet opened without one: a code goes to the phone; the resident
    confirms it at ``POST /v1/phone-links/{link_id}/confirm`` (no token needed)."""
    require_reader_of(write.principal, wallet_id)
    try:
        started = await residents(request).begin_phone_link(
            wallet_id=wallet_id,
            phone=body.phone,
            client=client_address(request),
            key=write.idempotency_key,
        )
    except AccessRefused as refused:
        raise problem(refused) from None
    view = PhoneLinkStarted(link_id=started.challenge_id, expires_at=started.expires_at)
    return answer(view.model_dump(mode="json"), 202, replayed=started.replayed)


@router.post("/phone-links/{link_id}/confirm", status_code=201, response_model=SessionView)
async def confirm_phone_link(link_id: UUID, body: CodeRequest, caller: Caller) -> JSONResponse:
    """The code sent to the phone: the phone is the wallet's from now on (sign-in works with
    it), and the resident is signed in."""
    try:
        session = await caller.residents.confirm(
            Purpose.PHONE_LINK, link_id, body.code, client=caller.client, key=caller.key
        )
    except AccessRefused as refused:
        raise problem(refused) from None
    return session_answer(session, 201)
