"""The integrity read model's consumer side: its batch handler (run by its own idempotent
consumer, so its position, inbox rows and flags commit in one transaction, apart from the
other read models' consumer) and its metrics.

Metrics (no resident or shop in any label): ``kgo_integrity_flags{kind}`` the flags stored,
``kgo_integrity_flags_raised_total{kind}`` the flags this process saw appear. Both are read
back from the table after each committed batch, so a rolled-back batch never counts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import asyncpg

from kgo_runtime.clock import Clock
from kgo_runtime.components import Component
from kgo_runtime.envelope import Envelope
from kgo_runtime.metrics import Metrics
from kgo_runtime.postgres import create_tables
from kgo_runtime.service import ServiceContext
from services.projections.adapters.integrity_store import (
    IntegrityQueries,
    PostgresIntegrityStore,
    integrity_ddl,
)
from services.projections.application.integrity import IntegrityRules
from services.projections.domain.integrity import FlagKind
from services.projections.entrypoints.http.integrity import Integrity
from services.projections.integrity_settings import IntegritySettings
from services.projections.settings import ProjectionsSettings


class IntegrityProjector:
    """A batch handler: applies one partition's envelopes in the consumer's transaction."""

    def __init__(self, schema: str, settings: IntegritySettings) -> None:
        self.schema = schema
        self.settings = settings

    async def __call__(self, conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
        rules = IntegrityRules(PostgresIntegrityStore(conn, self.schema), self.settings)
        await rules.apply((e.type.rsplit(".", 1)[0], e.event) for e in envelopes)


class IntegrityMetrics:
    def __init__(self, metrics: Metrics, queries: IntegrityQueries) -> None:
        self.queries = queries
        self.stored = metrics.gauge("integrity_flags", "Integrity flags stored, by kind.", ["kind"])
        self.raised = metrics.counter(
            "integrity_flags_raised_total",
            "Integrity flags raised while this process ran, by kind.",
            ["kind"],
        )
        self._known: dict[str, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = False
        for kind in FlagKind:
            self.stored.labels(kind.value).set(0)
            self.raised.labels(kind.value)

    async def refresh(self) -> None:
        counts = await self.queries.counts()
        for kind in FlagKind:
            n = counts.get(kind.value, 0)
            self.stored.labels(kind.value).set(n)
            if self._known is not None and n > self._known.get(kind.value, 0):
                self.raised.labels(kind.value).inc(n - self._known.get(kind.value, 0))
        self._known = counts

    def committed(self) -> None:
        """After a committed batch (on the event loop): refresh, one refresh at a time (a
        commit during a refresh makes it run once more)."""
        self._dirty = True
        if self._task is not None and not self._task.done():
            return

        async def run() -> None:
            while self._dirty:
                self._dirty = False
                with contextlib.suppress(Exception):
                    await self.refresh()

        self._task = asyncio.get_running_loop().create_task(run())


async def integrity_component(
    ctx: ServiceContext,
    settings: ProjectionsSettings,
    integrity: IntegritySettings,
    clock: Clock,
    records_behind: Callable[[], int | None],
) -> Component:
    """The integrity read model in a projections process: its tables, its metrics, the
    API's state (``app.state.integrity``) and its own consumer."""
    schema = settings.database_schema
    await create_tables(ctx.pool, integrity_ddl(schema))
    queries = IntegrityQueries(ctx.pool, schema)
    # Registered once per process: a failed start is built again on the same registry.
    metrics = getattr(ctx.app.state, "integrity_metrics", None)
    if metrics is None:
        metrics = ctx.app.state.integrity_metrics = IntegrityMetrics(ctx.metrics, queries)
    metrics.queries = queries
    await metrics.refresh()
    ctx.app.state.integrity = Integrity(queries, clock, records_behind)
    return ctx.consumer(
        integrity.consumer_name,
        settings.topics,
        IntegrityProjector(schema, integrity),
        batched=True,
        after_commit=metrics.committed,
        max_records=settings.batch_records,
        # A poll's partitions in one transaction (the rules take events in any order).
        across_partitions=True,
    )
