"""The operator API of the integrity read model (``/v1/integrity/...``): flags with their
reasons, for municipal administrators, auditors and programme operators only (never public).
Every answer carries ``as_of``: the latest business time the integrity consumer folded and
how many records it has not read yet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from kgo_runtime.access import Principal, Role, allow
from kgo_runtime.clock import Clock
from kgo_runtime.problems import ProblemError, problem_responses
from services.projections.adapters.integrity_store import IntegrityQueries
from services.projections.domain.integrity import FlagKind

OPERATORS = (Role.MUNICIPAL_ADMIN, Role.AUDITOR, Role.PROGRAMME_OPERATOR)
PROBLEMS = problem_responses(
    {401: "no valid token", 403: "role not allowed", 404: "unknown flag", 503: "still starting"}
)


@dataclass
class Integrity:
    queries: IntegrityQueries
    clock: Clock
    #: Records the integrity consumer has not read yet (None: not known).
    records_behind: Callable[[], int | None]

    async def as_of(self) -> dict[str, Any]:
        business_time = await self.queries.business_time()
        behind = self.records_behind()
        lag: float | None = None
        if behind == 0:
            lag = 0.0
        elif business_time is not None:
            lag = max(0.0, (self.clock.now() - business_time).total_seconds())
        return {"business_time": business_time, "lag_seconds": lag, "records_behind": behind}


def integrity(request: Request) -> Integrity:
    found: Integrity | None = getattr(request.app.state, "integrity", None)
    if found is None:
        raise ProblemError(503, "not_ready", "still starting; retry shortly",
                           headers={"Retry-After": "1"})  # fmt: skip
    return found


Ctx = Annotated[Integrity, Depends(integrity)]
Operator = Annotated[Principal, Depends(allow(*OPERATORS))]


def build_integrity_router() -> APIRouter:
    router = APIRouter(prefix="/v1/integrity", tags=["integrity"])

    @router.get("/flags", responses=PROBLEMS)
    async def flags(
        ctx: Ctx,
        _caller: Operator,
        kind: Annotated[FlagKind | None, Query(description="Only flags of this kind.")] = None,
        shop: Annotated[UUID | None, Query(description="Only flags about this shop.")] = None,
        since: Annotated[
            datetime | None, Query(description="Only flags with evidence since this moment.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        """Flags raised by the integrity rules, newest first. A flag is for a person to look
        into: it moves no coins and refuses nobody."""
        found = await ctx.queries.flags(kind=kind, shop=shop, since=since, limit=limit)
        return {"as_of": await ctx.as_of(), "flags": found}

    @router.get("/flags/{flag_id}", responses=PROBLEMS)
    async def flag(flag_id: UUID, ctx: Ctx, _caller: Operator) -> dict[str, Any]:
        """One flag, with its reason and evidence."""
        found = await ctx.queries.flag(flag_id)
        if found is None:
            raise ProblemError(404, "flag_unknown", f"no integrity flag {flag_id}")
        return {"as_of": await ctx.as_of(), "flag": found}

    return router
