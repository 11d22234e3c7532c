"""Writes a large batch's changes with COPY instead of ``INSERT ... SELECT unnest(...)``.

Rows of the insert-only tables (entries, accounts, grants, completions, activities,
check-ins, shops, redemptions, fares) are copied straight into their tables (binary COPY:
no per-element type checks on the Python side, no conflict handling on the server's), and
balances are added from the batch's own sums. That is exact only when every row is new:
a row seen before makes COPY fail on the table's primary key, and the caller then rolls
back to its savepoint and writes the batch with :class:`ReadModelWriter`, whose
``ON CONFLICT`` statements skip what is already there (and move balances only by the
entries they inserted). Tables that sum or may meet their rows again in a later batch
(daily totals, flows, active days, resident weeks, missions, campaigns) keep the upserts.

Measured on the bench's batches (CPU per record, Python + Postgres): 7 + 10 µs against
11 + 21 µs for the unnest statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.projections.adapters.writer import (
    BALANCES,
    BALANCES_CONFLICT,
    ENTRIES,
    ReadModelWriter,
)
from services.projections.domain.changes import Changes


class BulkWriter(ReadModelWriter):
    async def _insert(
        self,
        conn: asyncpg.Connection,
        table: str,
        columns: str,
        types: str,
        rows: Sequence[tuple[Any, ...]],
        conflict: str = "DO NOTHING",
    ) -> None:
        if conflict != "DO NOTHING" or not rows:
            await super()._insert(conn, table, columns, types, rows, conflict)
            return
        await conn.copy_records_to_table(
            table,
            schema_name=self.schema,
            columns=[c.strip() for c in columns.split(",")],
            records=rows,
        )

    async def _entries(self, conn: asyncpg.Connection, c: Changes) -> None:
        # Every entry is new (else COPY fails), so the batch's sums are what moved.
        await self._insert(conn, "entries", ENTRIES, "", c.entries)
        rows = [(account, *sums) for account, sums in sorted(c.balances.items())]
        await super()._insert(
            conn, "balances", BALANCES, "uuid, bigint, bigint, int, bigint, bigint, timestamptz",
            rows, BALANCES_CONFLICT,
        )  # fmt: skip
