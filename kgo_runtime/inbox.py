"""A consumer's state in Postgres: the ``ce_id``s it has applied (``consumer_inbox``) and the
next offset of each partition (``consumer_positions``). Both change in the transaction of
the consumer's effect, so the effect, the dedupe record and the position commit together.

Each applied ``ce_id`` is stored with the digest of its content
(:func:`kgo_runtime.envelope.payload_digest`), so that a record reusing an applied id for
other content is told apart from a re-delivery (:attr:`Seen.REUSED`). Rows stored before the
digest existed have none (NULL): their re-deliveries count as the same content.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum

import asyncpg

from kgo_runtime.postgres import create_tables, schema_name


class Seen(Enum):
    """What the inbox knew of a ``ce_id`` it was asked to remember."""

    NEW = "new"  # not applied before: apply it
    AGAIN = "again"  # applied before with the same content (or no digest stored): a re-delivery
    REUSED = "reused"  # applied before with other content: the id was reused


def judge(stored: str | None, digest: str | None) -> Seen:
    """A ``ce_id`` applied before with ``stored`` digest, arriving with ``digest``."""
    if stored is None or digest is None or stored == digest:
        return Seen.AGAIN
    return Seen.REUSED


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
            " received_at timestamptz NOT NULL DEFAULT now(), payload_sha256 text,"
            " PRIMARY KEY (consumer, ce_id));"
            # Inboxes made before the digest existed get the column; their rows stay NULL.
            f"ALTER TABLE {self._inbox} ADD COLUMN IF NOT EXISTS payload_sha256 text;"
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

    async def remember(
        self, conn: asyncpg.Connection, ce_id: str, digest: str | None = None
    ) -> Seen:
        """Record ``ce_id`` (with its content's ``digest``) as applied, unless it already was."""
        row = await conn.fetchval(
            f"INSERT INTO {self._inbox} (consumer, ce_id, payload_sha256) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            self.consumer,
            ce_id,
            digest,
        )
        if row is not None:
            return Seen.NEW
        stored = await self._digests(conn, [ce_id])
        return judge(stored.get(ce_id), digest)

    async def _digests(self, conn: asyncpg.Connection, ce_ids: list[str]) -> dict[str, str | None]:
        rows = await conn.fetch(
            f"SELECT ce_id, payload_sha256 FROM {self._inbox}"
            " WHERE consumer = $1 AND ce_id = ANY($2::text[])",
            self.consumer,
            ce_ids,
        )
        return {r["ce_id"]: r["payload_sha256"] for r in rows}

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

    async def lock_positions(
        self, conn: asyncpg.Connection, partitions: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        """:meth:`lock_position` of several partitions in one statement (in one order, so
        that two transactions locking overlapping sets wait instead of deadlocking); those
        not stored yet are absent."""
        return await self._positions_of(conn, partitions, " ORDER BY topic, partition FOR UPDATE")

    async def advance_many(
        self, conn: asyncpg.Connection, last: Sequence[tuple[str, int, int]]
    ) -> int:
        """:meth:`advance` of several partitions past their ``(topic, partition, offset)``
        in one statement; returns how many moved."""
        rows = await conn.fetch(
            f"INSERT INTO {self._positions} AS p (consumer, topic, partition, next_offset)"
            " SELECT $1, t, pt, o + 1 FROM unnest($2::text[], $3::int[], $4::bigint[])"
            " AS u(t, pt, o)"
            " ON CONFLICT (consumer, topic, partition) DO UPDATE"
            " SET next_offset = EXCLUDED.next_offset WHERE p.next_offset < EXCLUDED.next_offset"
            " RETURNING 1",
            self.consumer,
            [t for t, _, _ in last],
            [p for _, p, _ in last],
            [o for _, _, o in last],
        )
        return len(rows)

    async def remember_many(
        self, conn: asyncpg.Connection, items: Sequence[tuple[str, str | None]]
    ) -> tuple[set[str], dict[str, str | None]]:
        """Record ``(ce_id, digest)``s as applied in one statement: the ids not applied
        before (a ``ce_id`` twice in ``items`` is stored once, with its first digest), and
        the stored digest of each id that was."""
        if not items:
            return set(), {}
        rows = await conn.fetch(
            f"INSERT INTO {self._inbox} (consumer, ce_id, payload_sha256)"
            " SELECT $1, id, digest FROM unnest($2::text[], $3::text[]) AS t(id, digest)"
            " ON CONFLICT DO NOTHING RETURNING ce_id",
            self.consumer,
            [i for i, _ in items],
            [d for _, d in items],
        )
        new = {r["ce_id"] for r in rows}
        before = list({i for i, _ in items} - new)
        return new, (await self._digests(conn, before) if before else {})

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
        return await self._positions_of(pool, list(partitions))

    async def _positions_of(
        self,
        db: asyncpg.Pool | asyncpg.Connection,
        partitions: Sequence[tuple[str, int]],
        then: str = "",
    ) -> dict[tuple[str, int], int]:
        rows = await db.fetch(
            f"SELECT topic, partition, next_offset FROM {self._positions}"
            " WHERE consumer = $1 AND (topic, partition) IN"
            f" (SELECT * FROM unnest($2::text[], $3::int[])){then}",
            self.consumer,
            [t for t, _ in partitions],
            [p for _, p in partitions],
        )
        return {(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}
