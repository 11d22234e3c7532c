"""The projections' batch handler: one batch of envelopes folded in memory, then written
with set-based statements in the consumer's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg

from kgo_runtime.envelope import Envelope
from services.projections.adapters.writer import ReadModelWriter
from services.projections.domain.changes import fold_batch


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
        self.writer = ReadModelWriter(schema, models)
        self.since = since
        self.until = until

    def _inside(self, envelope: Envelope) -> bool:
        at = envelope.event.business_time()
        if self.since is not None and at < self.since:
            return False
        return self.until is None or at <= self.until

    async def __call__(self, conn: asyncpg.Connection, envelopes: Sequence[Envelope]) -> None:
        events = [(e.type.rsplit(".", 1)[0], e.event) for e in envelopes if self._inside(e)]
        if events:
            await self.writer.write(conn, fold_batch(events))
