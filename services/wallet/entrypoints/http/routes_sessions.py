"""Residents sign in with their phone and a one-time code, and refresh their session.

A sign-in for a phone no wallet has is answered exactly like any other (202 and a
challenge id); only no code is sent, so the answer says nothing about who is registered.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from kgo_runtime.direct_routes import DirectRoute

from ...application.resident_access import AccessRefused
from ...domain.resident_access import Purpose
from .api_models_residents import (
    CodeRequest,
    RefreshRequest,
    SessionView,
    SignInRequest,
    SignInStarted,
)
from .problems import PROBLEM_RESPONSES
from .self_service import Anonymous, anonymous, answer, problem, session_answer

router = APIRouter(
    prefix="/v1/sessions", tags=["residents"], responses=PROBLEM_RESPONSES, route_class=DirectRoute
)

Caller = Annotated[Anonymous, Depends(anonymous)]


@router.post("", status_code=202, response_model=SignInStarted)
async def start_sign_in(body: SignInRequest, caller: Caller) -> JSONResponse:
    """Send a one-time code to the phone of a wallet (no token needed)."""
    try:
        started = await caller.residents.begin_sign_in(
            phone=body.phone, client=caller.client, key=caller.key
        )
    except AccessRefused as refused:
        raise problem(refused) from None
    view = SignInStarted(challenge_id=started.challenge_id, expires_at=started.expires_at)
    return answer(view.model_dump(mode="json"), 202, replayed=started.replayed)


@router.post("/{challenge_id}/confirm", response_model=SessionView)
async def confirm_sign_in(challenge_id: UUID, body: CodeRequest, caller: Caller) -> JSONResponse:
    """The code sent to the phone: an access token bound to the wallet, and a refresh token."""
    try:
        session = await caller.residents.confirm(
            Purpose.SIGN_IN, challenge_id, body.code, client=caller.client, key=caller.key
        )
    except AccessRefused as refused:
        raise problem(refused) from None
    return session_answer(session)


@router.post("/refresh", response_model=SessionView)
async def refresh_session(body: RefreshRequest, caller: Caller) -> JSONResponse:
    """A new pair for a refresh token, which is used up: presenting it again revokes the
    session (the same Idempotency-Key within a minute is answered again instead)."""
    try:
        session = await caller.residents.refresh(body.refresh_token, key=caller.key)
    except AccessRefused as refused:
        raise problem(refused) from None
    return session_answer(session)


@router.post("/sign-out", status_code=204)
async def sign_out(body: RefreshRequest, caller: Caller) -> Response:
    """End a session: its refresh token and every one rotated from it stop working (its
    access token expires by itself within minutes). Answered 204 whatever the token."""
    await caller.residents.sign_out(body.refresh_token)
    return Response(status_code=204)
