"""A consumer's state in Postgres: the ``ce_id``s it has applied (``consumer_inbox``) and the
next offset of each partition (``consumer_positions``). Both change in the transaction of
the consumer's effect, so the effect, the dedupe record and the position commit together.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from kgo_runtime.postgres import create_tables, schema_name


class Inbox:
    """SQL for one consumer's inbox and positions in one schema."""

    def __init__(self, consumer: str, schema: str = "public") -> None:
        self.consumer = consumer
        schema = schema_name(schema)
        self._inbox = f"{schema}.consumer_inbox"
        self._positions = f"{schema}.consumer_positions"

    async def create_tables(self, pool: asyncpg.Pool) -> None:
        await create_tables(
            pool,
            f"CREATE TABLE IF NOT EXISTS {self._inbox} ("
            " consumer text NOT NULL, ce_id text NOT NULL,"
            " received_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (consumer, ce_id));"
            f"CREATE TABLE IF NOT EXISTS {self._positions} ("
            " consumer text NOT NULL, topic text NOT NULL, partition int NOT NULL,"
            " next_offset bigint NOT NULL,"
            " PRIMARY KEY (consumer, topic, partition));",
        )

    async def advance(
        self, conn: asyncpg.Connection, topic: str, partition: int, offset: int
    ) -> bool:
        """Move the partition's position past ``offset``; False if it already was."""
        row = await conn.fetchval(
            f"INSERT INTO {self._positions} AS p (consumer, topic, partition, next_offset)"
            " VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (consumer, topic, partition) DO UPDATE"
            " SET next_offset = EXCLUDED.next_offset WHERE p.next_offset < EXCLUDED.next_offset"
            " RETURNING 1",
            self.consumer,
            topic,
            partition,
            offset + 1,
        )
        return row is not None

    async def remember(self, conn: asyncpg.Connection, ce_id: str) -> bool:
        """Record ``ce_id`` as applied; False if it already was (a republished event)."""
        row = await conn.fetchval(
            f"INSERT INTO {self._inbox} (consumer, ce_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            self.consumer,
            ce_id,
        )
        return row is not None

    async def lock_position(
        self, conn: asyncpg.Connection, topic: str, partition: int
    ) -> int | None:
        """The partition's stored next offset, locked until the transaction ends (None: not
        stored yet). Batches lock it so that two of them never interleave."""
        value = await conn.fetchval(
            f"SELECT next_offset FROM {self._positions}"
            " WHERE consumer = $1 AND topic = $2 AND partition = $3 FOR UPDATE",
            self.consumer,
            topic,
            partition,
        )
        return int(value) if value is not None else None

    async def remember_many(self, conn: asyncpg.Connection, ce_ids: list[str]) -> set[str]:
        """Record ``ce_ids`` as applied in one statement; returns those not applied before."""
        if not ce_ids:
            return set()
        rows = await conn.fetch(
            f"INSERT INTO {self._inbox} (consumer, ce_id)"
            " SELECT $1, id FROM unnest($2::text[]) AS id"
            " ON CONFLICT DO NOTHING RETURNING ce_id",
            self.consumer,
            ce_ids,
        )
        return {r["ce_id"] for r in rows}

    async def prune(self, pool: asyncpg.Pool, keep_seconds: float) -> int:
        """Forget applied ``ce_id``s older than ``keep_seconds``; returns how many. A
        republished event arrives within moments of the first (the relay resends at most
        its last batch), and a replayed offset is caught by the position, so the inbox only
        needs a window, not all of history."""
        status = await pool.execute(
            f"DELETE FROM {self._inbox} WHERE consumer = $1"
            " AND received_at < now() - make_interval(secs => $2)",
            self.consumer,
            keep_seconds,
        )
        return int(status.split()[-1])

    async def next_offset(
        self, conn: asyncpg.Connection | asyncpg.Pool, topic: str, partition: int
    ) -> int:
        value = await conn.fetchval(
            f"SELECT next_offset FROM {self._positions}"
            " WHERE consumer = $1 AND topic = $2 AND partition = $3",
            self.consumer,
            topic,
            partition,
        )
        return int(value) if value is not None else 0

    async def positions(
        self, pool: asyncpg.Pool, partitions: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        """Stored next offsets of the given (topic, partition)s; absent ones are not stored."""
        wanted = list(partitions)
        rows = await pool.fetch(
            f"SELECT topic, partition, next_offset FROM {self._positions}"
            " WHERE consumer = $1 AND (topic, partition) IN"
            " (SELECT * FROM unnest($2::text[], $3::int[]))",
            self.consumer,
            [t for t, _ in wanted],
            [p for _, p in wanted],
        )
        return {(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}
