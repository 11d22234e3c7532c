"""The replay's SQL fold makes the same tables as the Python fold: the synthetic city and
every contract example (missions, shops suspended and reinstated, voids, campaigns), in
batches of several sizes, folded both ways into two schemas."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from kgo_contracts import topics as names
from kgo_contracts.base import ContractEvent
from kgo_contracts.examples import examples
from kgo_runtime.envelope import encode
from kgo_runtime.postgres import create_tables
from services.projections.adapters.sql_fold import FOLDED, SqlFold
from services.projections.adapters.tables import ddl, model_names, tables_of
from services.projections.entrypoints.consumer import Projector

from .conftest import DSN, dump
from .history import build

pytestmark = pytest.mark.integration


def _value(event: ContractEvent) -> bytes:
    return encode(event, ce_id=str(uuid.uuid4()), source=event.ce_source()).value


@pytest.mark.parametrize("batch", [7, 500])
async def test_the_sql_fold_writes_the_tables_the_python_fold_writes(batch: int) -> None:
    consumed = {names.WALLET, names.MISSIONS, names.MERCHANT, names.TRANSIT}
    events = [*build(residents=20).events, *(e for e in examples() if e.topic in consumed)]
    python, sql = (f"t_fold_{uuid.uuid4().hex[:10]}" for _ in range(2))
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=2)
    try:
        for schema in (python, sql):
            await create_tables(pool, ddl(schema, model_names()))
        projector, fold = Projector(python, model_names()), SqlFold(sql, model_names())
        for i in range(0, len(events), batch):
            chunk = events[i : i + batch]
            async with pool.acquire() as conn, conn.transaction():
                await projector.apply(conn, [(type(e).wire_name, e) for e in chunk])
            async with pool.acquire() as conn, conn.transaction():
                folded = [e for e in chunk if e.wire_name in FOLDED]
                others = [_value(e) for e in chunk if e.wire_name not in FOLDED]
                wire = [e.wire_name for e in folded]
                await fold.apply(conn, wire, [_value(e) for e in folded], others)
        tables = tables_of(model_names())
        expected, found = await dump(python, tables), await dump(sql, tables)
        for table in tables:
            assert found[table] == expected[table], table
        assert {t for t in tables if expected[t]} >= {"entries", "missions", "check_ins",
                                                      "campaigns", "redemptions"}  # fmt: skip
        progress = "SELECT business_time FROM {}.progress"
        assert await pool.fetchval(progress.format(sql)) == await pool.fetchval(
            progress.format(python)
        )
    finally:
        for schema in (python, sql):
            await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()
