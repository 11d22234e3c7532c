"""What the routes need (``app.state.projections``) and the ``as_of`` of every answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import Request

from kgo_runtime.clock import Clock
from kgo_runtime.problems import ProblemError
from services.projections.adapters.queries import ReadModels
from services.projections.domain.measures import Suppression
from services.projections.settings import ProjectionsSettings

SNAPSHOT_NAME = re.compile(r"^[a-z0-9_]{1,40}$")


@dataclass
class Projections:
    settings: ProjectionsSettings
    pool: asyncpg.Pool
    clock: Clock
    #: Records the live consumer has not read yet (None: not known).
    records_behind: Callable[[], int | None]

    @property
    def suppression(self) -> Suppression:
        return Suppression(self.settings.suppress_below)

    async def snapshots(self) -> list[str]:
        prefix = self.settings.snapshot_schema("")
        rows = await self.pool.fetch(
            "SELECT schema_name FROM information_schema.schemata WHERE starts_with(schema_name, $1)"
            " ORDER BY schema_name",
            prefix,
        )
        return [r["schema_name"][len(prefix) :] for r in rows]

    async def models(self, snapshot: str | None) -> ReadModels:
        if snapshot is None:
            return ReadModels(self.pool, self.settings.database_schema, self.suppression)
        if not SNAPSHOT_NAME.match(snapshot) or snapshot not in await self.snapshots():
            raise ProblemError(404, "snapshot_unknown", f"no replayed snapshot {snapshot!r}")
        schema = self.settings.snapshot_schema(snapshot)
        return ReadModels(self.pool, schema, self.suppression)

    async def as_of(self, models: ReadModels, snapshot: str | None) -> dict[str, Any]:
        """``business_time``: the latest business time folded; ``lag_seconds``: 0 once the
        consumer has read every record of its topics, else how far that business time
        trails the clock; ``snapshot``: the replayed city answered from (null: live)."""
        try:
            progress = await models.progress()
        except asyncpg.UndefinedTableError:
            progress = {}
        business_time: datetime | None = progress.get("business_time")
        behind = None if snapshot is not None else self.records_behind()
        lag: float | None = None
        if snapshot is not None or behind == 0:
            lag = 0.0
        elif business_time is not None:
            lag = max(0.0, (self.clock.now() - business_time).total_seconds())
        return {
            "business_time": business_time,
            "lag_seconds": lag,
            "records_behind": behind,
            "snapshot": snapshot,
            "snapshot_until": progress.get("snapshot_until"),
        }


def projections(request: Request) -> Projections:
    found: Projections | None = getattr(request.app.state, "projections", None)
    if found is None:
        raise ProblemError(503, "not_ready", "still starting; retry shortly",
                           headers={"Retry-After": "1"})  # fmt: skip
    return found
