"""The projections' batch handler: one batch of envelopes folded in memory, then written
with set-based statements in the consumer's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from kgo_runtime.envelope import Envelope
from services.projections.adapters.bulk import BulkWriter
from services.projections.adapters.writer import OneStatementWriter
from services.projections.domain.changes import fold_batch

#: From this many events a batch is written with COPY (see adapters/bulk.py); smaller ones
#: (a live consumer keeping up) gain nothing from it.
BULK_FROM = 200


class Projector:
    """Keeps ``models`` in ``schema``; with ``since``/``until``, only events whose business
    time is inside ``[since, until]`` count (a replay ``--from``/``--until``)."""

    def __init__(
        self,
        schema: str,
        models: Iterable[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        models = list(models)
        self.writer = OneStatementWriter(schema, models)
        self.bulk = BulkWriter(schema, models)
        self.since = since
        self.until = until

    async def __call__(self, conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
        await self.apply(conn, [(e.type.rsplit(".", 1)[0], e.event) for e in envelopes])

    async def apply(self, conn: asyncpg.Connection, events: list[tuple[str, Any]]) -> None:
        """Fold ``(wire name, event)`` pairs (one partition, offset order) and write them."""
        if self.since is not None or self.until is not None:
            events = [(name, e) for name, e in events if self._inside(e.business_time())]
        if not events:
            return
        changes = fold_batch(events)
        if len(events) >= BULK_FROM:
            try:
                async with conn.transaction():  # a savepoint: a row seen before undoes it
                    await self.bulk.write(conn, changes)
                return
            except asyncpg.UniqueViolationError:
                pass
        await self.writer.write(conn, changes)

    def _inside(self, at: datetime) -> bool:
        if self.since is not None and at < self.since:
            return False
        return self.until is None or at <= self.until
