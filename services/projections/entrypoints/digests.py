"""The digests' consumer and routes: ``kgo.public.digests`` into ``public_digests``, served
without a token at ``/v1/public/digests`` and ``/v1/public/digests/{day}``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from kgo_contracts.digests import DayClosed
from kgo_runtime.components import Component
from kgo_runtime.problems import ProblemError, problem_responses
from kgo_runtime.processing import dispatch
from kgo_runtime.service import ServiceContext
from services.projections.adapters.digests import DigestTable
from services.projections.settings import ProjectionsSettings

from .http.context import Projections, projections

VERIFY = (
    "Recompute with `kgo audit verify` or the steps in schemas/README.md ('Daily digests'): "
    "each digest names its range of kgo.wallet.events positions, their SHA-256, the totals, "
    "the previous day's digest and the municipality's Ed25519 signature (schemas/keys/)."
)


async def digest_consumer(ctx: ServiceContext, settings: ProjectionsSettings) -> Component | None:
    if not settings.digests_topic:
        return None
    table = DigestTable(settings.database_schema)
    await table.create(ctx.pool)
    handler = dispatch({DayClosed: table.keep})
    return ctx.consumer(f"{settings.consumer_name}-digests", [settings.digests_topic], handler)


Ctx = Annotated[Projections, Depends(projections)]
Day = Annotated[date, Path(description="A Bangkok day, YYYY-MM-DD.")]


def digest_router() -> APIRouter:
    router = APIRouter(prefix="/v1/public", tags=["digests"])

    @router.get("/digests", responses=problem_responses({503: "still starting"}))
    async def digests(ctx: Ctx, since: date | None = None,
                      until: date | None = None) -> dict[str, Any]:  # fmt: skip
        """The signed daily digests of the ledger, oldest first (anyone, no token)."""
        table = DigestTable(ctx.settings.database_schema)
        return {"digests": await table.between(ctx.pool, since, until), "verify": VERIFY}

    @router.get("/digests/{day}", responses=problem_responses(
        {404: "no digest for that day", 503: "still starting"}))  # fmt: skip
    async def digest(day: Day, ctx: Ctx) -> dict[str, Any]:
        """One day's signed digest (anyone, no token)."""
        found = await DigestTable(ctx.settings.database_schema).of(ctx.pool, day)
        if found is None:
            raise ProblemError(404, "digest_unknown", f"no digest published for {day} (yet)")
        return {"digest": found, "verify": VERIFY}

    return router
