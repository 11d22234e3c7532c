"""The consumer inbox keeps a dedupe window, not all of history (real PostgreSQL)."""

from __future__ import annotations

import asyncpg
import pytest

from kgo_runtime.inbox import Inbox
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import fresh_schema

pytestmark = pytest.mark.integration

DSN = InfraSettings().database_url("missions")


async def test_prune_forgets_only_ids_older_than_the_window():
    async with fresh_schema(DSN, "t_inbox") as schema:
        pool = await asyncpg.create_pool(DSN, min_size=0, max_size=2)
        try:
            inbox, other = Inbox("grants", schema), Inbox("projections", schema)
            await inbox.create_tables(pool)
            async with pool.acquire() as conn:
                for consumer in (inbox, other):
                    assert await consumer.remember(conn, "old")
                    assert await consumer.remember(conn, "new")
                await conn.execute(
                    f"UPDATE {schema}.consumer_inbox SET received_at = now() - interval '8 days'"
                    " WHERE ce_id = 'old'"
                )
            assert await inbox.prune(pool, keep_seconds=7 * 24 * 3600) == 1
            async with pool.acquire() as conn:
                assert await inbox.remember(conn, "old")  # forgotten: it may be applied again
                assert not await inbox.remember(conn, "new")  # still inside the window
                assert not await other.remember(conn, "old")  # another consumer's rows stay
        finally:
            await pool.close()
