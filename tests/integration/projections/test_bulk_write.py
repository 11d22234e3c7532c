"""A large batch is written with COPY; written again (every row seen before), COPY fails on
the primary keys, the savepoint is undone and the upserts leave the tables as they were."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from kgo_runtime.postgres import create_tables
from services.projections.adapters.tables import ddl, model_names, tables_of
from services.projections.entrypoints.consumer import BULK_FROM, Projector

from .conftest import DSN, dump
from .history import build

pytestmark = pytest.mark.integration


async def test_a_batch_applied_twice_by_copy_then_upserts_changes_nothing_the_second_time() -> None:
    schema = f"t_bulk_{uuid.uuid4().hex[:10]}"
    events = [(type(e).wire_name, e) for e in build(residents=20).events]
    assert len(events) >= BULK_FROM
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=2)
    try:
        await create_tables(pool, ddl(schema, model_names()))
        projector = Projector(schema, model_names())
        async with pool.acquire() as conn, conn.transaction():
            await projector.apply(conn, events)
        once = await dump(schema, tables_of(model_names()))
        assert once["entries"] and once["balances"] and once["redemptions"]
        async with pool.acquire() as conn, conn.transaction():
            await projector.apply(conn, events[:BULK_FROM])  # rows seen before: upserts
        twice = await dump(schema, tables_of(model_names()))
        # Only sums move (a duplicate that escaped the inbox); every row table is unchanged.
        for table in ("entries", "balances", "accounts", "grants", "redemptions", "fares"):
            assert twice[table] == once[table], table
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()
