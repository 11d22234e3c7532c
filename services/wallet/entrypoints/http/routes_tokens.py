"""API tokens: issued and revoked by the municipality's administrators.

A token is in the answer once. Issuing again with the same Idempotency-Key and body answers
the same token id with ``token: null`` (the wallet keeps only its hash) and
``Idempotent-Replayed: true``; the same key with another body is 409 ``idempotency_key_reused``.
Revoking is idempotent by nature: the key is required, as on every write, but not stored.
"""

from __future__ import annotations

from typing import Annotated, cast
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints

from kgo_runtime.access import ACCESS_PREFIX
from kgo_runtime.direct_routes import DirectRoute

from ...adapters.tokens import ApiToken, ApiTokens, TokenKeyReused
from .api_models import IssuedTokenView, TokenRequest, TokenView
from .auth import ROLE_NAMES, Role, principal_of
from .context import Reader, Writer, reader, writer
from .problems import PROBLEM_RESPONSES, REPLAYED_HEADER, ProblemError

router = APIRouter(
    prefix="/v1/tokens", tags=["tokens"], responses=PROBLEM_RESPONSES, route_class=DirectRoute
)

Admin = Annotated[Writer, Depends(writer(Role.MUNICIPAL_ADMIN))]


def _store(context: Reader | Writer) -> ApiTokens:
    return cast(ApiTokens, context.wallet.tokens)


def _view(record: ApiToken) -> TokenView:
    return TokenView.model_validate(record, from_attributes=True)


@router.post("", status_code=201, response_model=IssuedTokenView)
async def issue_token(body: TokenRequest, write: Admin) -> JSONResponse:
    """Issue a token for a role (and the subject it acts for): the secret is shown once."""
    try:
        issued = await _store(write).issue(
            body.role.value,
            body.name,
            body.subject,
            issued_by=write.principal.caller,
            idempotency_key=write.idempotency_key,
        )
    except TokenKeyReused as reused:
        raise ProblemError(409, "idempotency_key_reused", str(reused)) from None
    view = IssuedTokenView(**_view(issued.record).model_dump(), token=issued.token)
    headers = {REPLAYED_HEADER: "true"} if issued.replayed else None
    return JSONResponse(view.model_dump(mode="json"), status_code=201, headers=headers)


@router.get("")
async def list_tokens(
    read: Annotated[Reader, Depends(reader(Role.MUNICIPAL_ADMIN, Role.AUDITOR))],
    include_revoked: bool = False,
) -> list[TokenView]:
    """The tokens (never their secrets), oldest first."""
    return [_view(record) for record in await _store(read).list(include_revoked=include_revoked)]


@router.delete("/{token_id}")
async def revoke_token(token_id: UUID, write: Admin) -> TokenView:
    """Revoke a token: refused from now on in this process, within seconds in the others."""
    record = await _store(write).revoke(token_id)
    if record is None:
        raise ProblemError(404, "token_not_found", f"no token {token_id}")
    return _view(record)


class IntrospectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class Introspection(BaseModel):
    """What a presented token stands for (RFC 7662 in spirit): ``active`` false for an
    unknown, revoked or expired one, and nothing else then."""

    active: bool
    token_id: UUID | None = None
    role: Role | None = None
    name: str | None = None
    subject: str | None = None


@router.post("/introspect")
async def introspect_token(
    body: IntrospectRequest,
    read: Annotated[Reader, Depends(reader(Role.SERVICE))],
) -> Introspection:
    """For other city services: what an API token (or access token) presented to them stands
    for, so one token works on every KGO service. Reads only; no Idempotency-Key."""
    presented = body.token
    if presented.startswith(ACCESS_PREFIX):
        principal = read.wallet.access.verifier.verify(presented)
    else:
        record = await read.wallet.tokens.authenticate(presented)
        principal = (
            None if record is None or record.role not in ROLE_NAMES else principal_of(record)
        )
    if principal is None:
        return Introspection(active=False)
    return Introspection(
        active=True,
        token_id=principal.token_id,
        role=principal.role,
        name=principal.name,
        subject=principal.subject,
    )
