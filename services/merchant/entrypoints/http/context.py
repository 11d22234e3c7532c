"""What a route gets from its request: the merchant container, the caller, the write's key."""

# No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from kgo_runtime.access import Principal, Role, allow, forbidden
from kgo_runtime.problems import ProblemError
from kgo_runtime.writes import IdempotencyKey

from ...application.redemptions import Till
from ..container import MerchantContainer


async def merchant(request: Request) -> MerchantContainer:
    """The container (async, like every dependency here: a plain ``def`` would run on a
    worker thread for every request)."""
    container: MerchantContainer | None = getattr(request.app.state, "merchant", None)
    if container is None:
        raise ProblemError(
            503, "not_ready", "the merchant is still starting; retry shortly",
            headers={"Retry-After": "1"},
        )  # fmt: skip
    return container


Merchant = Annotated[MerchantContainer, Depends(merchant)]


#: A header parameter, not a dependency of its own (one less for FastAPI to solve per write).
Key = IdempotencyKey
Admin = Annotated[Principal, Depends(allow(Role.MUNICIPAL_ADMIN))]
TillCaller = Annotated[Principal, Depends(allow(Role.PAYEE))]
#: Who may read a shop's facts and statements (a till only its own shop's).
Reader = Annotated[
    Principal,
    Depends(allow(Role.MUNICIPAL_ADMIN, Role.PROGRAMME_OPERATOR, Role.AUDITOR, Role.PAYEE)),
]


def till_of(principal: Principal) -> Till:
    """The till behind a payee principal (its credential names its shop)."""
    if principal.subject is None:
        raise forbidden("this payee token names no shop")
    try:
        return Till(UUID(principal.subject), principal.token_id)
    except ValueError:
        raise forbidden("this payee token names no shop") from None


def shop_scope(principal: Principal, shop_id: UUID | None = None) -> UUID | None:
    """None for staff (any shop); a till's own shop, refused for another shop."""
    if principal.role != Role.PAYEE:
        return None
    own = till_of(principal).shop_id
    if shop_id is not None and shop_id != own:
        raise forbidden("a till acts for its own shop only")
    return own
