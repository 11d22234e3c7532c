"""What a route gets from its request: the container, the caller, the idempotency key."""

# No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from kgo_runtime.access import Principal, Role, allow, forbidden
from kgo_runtime.http import device_seen
from kgo_runtime.problems import REPLAYED_HEADER, ProblemError
from kgo_runtime.writes import IdempotencyKey as IdempotencyKey  # the routes' header

from ...domain.validator import Validator
from ..container import TransitContainer


async def transit(request: Request) -> TransitContainer:
    """The container (async, like every dependency here: a plain ``def`` would run on a
    worker thread)."""
    container: TransitContainer | None = getattr(request.app.state, "transit", None)
    if container is None:
        raise ProblemError(
            503,
            "not_ready",
            "transit is still starting; retry shortly",
            headers={"Retry-After": "1"},
        )
    return container


Transit = Annotated[TransitContainer, Depends(transit)]


def answer(body: dict[str, Any], status: int, *, replayed: bool = False) -> JSONResponse:
    """A write's answer; a replay carries ``Idempotent-Replayed: true``."""
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return JSONResponse(body, status_code=status, headers=headers)


ADMINS = (Role.MUNICIPAL_ADMIN, Role.PROGRAMME_OPERATOR)
READERS = (Role.MUNICIPAL_ADMIN, Role.PROGRAMME_OPERATOR, Role.AUDITOR)


@dataclass(frozen=True)
class ValidatorCall:
    validator: Validator
    transit: TransitContainer


async def validator_call(
    principal: Annotated[Principal, Depends(allow(Role.SERVICE))], request: Request
) -> ValidatorCall:
    """The validator calling, from its own device credential (no other token will do), and
    the container; it counts as alive from now (``kgo_device_last_seen_timestamp_seconds``).
    One dependency (the container is called, not depended on), so that a route using it
    is answered by :class:`~kgo_runtime.direct_routes.DirectRoute`'s plan."""
    container = await transit(request)
    found = await container.devices.validator(principal)
    if found is None:
        raise forbidden("only a registered validator's own credential (kgo_val_...) may do this")
    device_seen(request, "validator", found.validator_id)
    return ValidatorCall(found, container)


ValidatorAt = Annotated[ValidatorCall, Depends(validator_call)]
Admin = Annotated[Principal, Depends(allow(*ADMINS))]
Reader = Annotated[Principal, Depends(allow(*READERS))]
