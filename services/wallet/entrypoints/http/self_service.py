"""What the residents' self-service routes share: the anonymous write (no token, still an
Idempotency-Key), the refusals as problems, a session as an answer."""

# No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations.

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from kgo_runtime.writes import idempotency_key, json_only

from ...application.resident_access import AccessRefused, ResidentAccess, Session
from .api_models_residents import SessionView
from .context import wallet
from .problems import REPLAYED_HEADER, ProblemError

#: Status of each refusal (409 for any other).
STATUS = {
    "too_many_requests": 429,
    "challenge_not_found": 404,
    "wallet_not_found": 404,
    "refresh_token_invalid": 401,
    "refresh_token_reused": 401,
}


def residents(request: Request) -> ResidentAccess:
    found = wallet(request).residents
    if found is None:
        raise ProblemError(503, "not_ready", "sign-in is not available yet; retry shortly",
                           headers={"Retry-After": "1"})  # fmt: skip
    return found


def client_address(request: Request) -> str:
    """The caller's address as the rate limits count it (the peer of this connection)."""
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Anonymous:
    """A write from a caller without a token (a resident's phone before sign-in)."""

    residents: ResidentAccess
    client: str
    key: str


async def anonymous(
    request: Request,
    _json: Annotated[None, Depends(json_only)],
    key: Annotated[str, Depends(idempotency_key)],
) -> Anonymous:
    return Anonymous(residents(request), client_address(request), key)


def problem(refused: AccessRefused) -> ProblemError:
    headers = None if refused.retry_after is None else {"Retry-After": str(refused.retry_after)}
    status = refused.status or STATUS.get(refused.code, 409)
    return ProblemError(status, refused.code, refused.reason, headers=headers, **refused.extra)


def answer(body: dict[str, object], status: int, *, replayed: bool) -> JSONResponse:
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return JSONResponse(body, status_code=status, headers=headers)


def session_answer(session: Session, status: int = 200) -> JSONResponse:
    view = SessionView(
        wallet_id=session.wallet_id,
        access_token=session.access.token,
        expires_at=session.access.expires_at,
        refresh_token=session.refresh_token,
        refresh_expires_at=session.refresh_expires_at,
    )
    return answer(view.model_dump(mode="json"), status, replayed=session.replayed)
