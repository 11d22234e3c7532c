"""The consumer inbox keeps a dedupe window, not all of history (real PostgreSQL)."""

from __future__ import annotations

import asyncpg
import pytest

from kgo_runtime.inbox import Inbox, Seen
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
                    assert await consumer.remember(conn, "old") is Seen.NEW
                    assert await consumer.remember(conn, "new") is Seen.NEW
                await conn.execute(
                    f"UPDATE {schema}.consumer_inbox SET received_at = now() - interval '8 days'"
                    " WHERE ce_id = 'old'"
                )
            assert await inbox.prune(pool, keep_seconds=7 * 24 * 3600) == 1
            async with pool.acquire() as conn:
                # forgotten: it may be applied again
                assert await inbox.remember(conn, "old") is Seen.NEW
                assert await inbox.remember(conn, "new") is Seen.AGAIN  # inside the window
                assert await other.remember(conn, "old") is Seen.AGAIN  # others' rows stay
        finally:
            await pool.close()


async def test_an_applied_id_with_other_content_is_told_from_a_redelivery():
    async with fresh_schema(DSN, "t_inbox") as schema:
        pool = await asyncpg.create_pool(DSN, min_size=0, max_size=2)
        try:
            inbox = Inbox("grants", schema)
            await inbox.create_tables(pool)
            await inbox.create_tables(pool)  # again, as every start does: nothing changes
            async with pool.acquire() as conn, conn.transaction():
                assert await inbox.remember(conn, "a", "d1") is Seen.NEW
                assert await inbox.remember(conn, "a", "d1") is Seen.AGAIN
                assert await inbox.remember(conn, "a", "d2") is Seen.REUSED
                assert await inbox.remember(conn, "old") is Seen.NEW  # stored without digest
                assert await inbox.remember(conn, "old", "d3") is Seen.AGAIN
                new, before = await inbox.remember_many(
                    conn, [("a", "d2"), ("b", "d4"), ("b", "d5"), ("old", "d6")]
                )
                assert new == {"b"}
                assert before == {"a": "d1", "old": None}
        finally:
            await pool.close()
