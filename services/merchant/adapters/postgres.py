"""The merchant's small Postgres tables beside its event store: shop contacts (personal data,
never in an event) and the tills' wrong payment codes (the lockout survives a restart)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import asyncpg
import orjson

from kgo_runtime.clock import Clock
from kgo_runtime.postgres import create_tables, schema_name

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.merchant_shop_contacts (
    shop_id uuid PRIMARY KEY, contact jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.merchant_till_guesses (
    till_id uuid NOT NULL, at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS merchant_till_guesses_till ON {s}.merchant_till_guesses (till_id, at);
"""


async def create_merchant_tables(pool: asyncpg.Pool, schema: str) -> None:
    await create_tables(pool, _DDL.format(s=schema_name(schema)))


class PostgresContacts:
    def __init__(self, pool: asyncpg.Pool, *, schema: str = "public") -> None:
        self._pool, self._s = pool, schema_name(schema)

    async def put(self, shop_id: UUID, contact: dict[str, str]) -> None:
        await self._pool.execute(
            f"INSERT INTO {self._s}.merchant_shop_contacts VALUES ($1, $2::jsonb) "
            "ON CONFLICT (shop_id) DO UPDATE SET contact = EXCLUDED.contact",
            shop_id, orjson.dumps(contact).decode(),
        )  # fmt: skip

    async def get(self, shop_id: UUID) -> dict[str, str] | None:
        found = await self._pool.fetchval(
            f"SELECT contact::text FROM {self._s}.merchant_shop_contacts WHERE shop_id = $1",
            shop_id,
        )
        return None if found is None else dict(orjson.loads(found))


class PostgresGuessLimiter:
    """At most ``limit`` wrong payment codes per till within ``window``; then the till is
    locked until the oldest of them leaves the window."""

    def __init__(
        self, pool: asyncpg.Pool, clock: Clock, *, schema: str = "public", limit: int = 5,
        window: timedelta = timedelta(minutes=15),
    ) -> None:  # fmt: skip
        self._pool, self._clock, self._s = pool, clock, schema_name(schema)
        self._limit, self._window = limit, window

    async def retry_after(self, till_id: UUID) -> float | None:
        since = self._clock.now() - self._window
        rows = await self._pool.fetch(
            f"SELECT at FROM {self._s}.merchant_till_guesses WHERE till_id = $1 AND at > $2 "
            "ORDER BY at DESC LIMIT $3",
            till_id, since, self._limit,
        )  # fmt: skip
        if len(rows) < self._limit:
            return None
        oldest = rows[-1]["at"]
        return max(1.0, float((oldest - since).total_seconds()))

    async def wrong_code(self, till_id: UUID) -> None:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO {self._s}.merchant_till_guesses VALUES ($1, $2)", till_id, now
            )
            await conn.execute(
                f"DELETE FROM {self._s}.merchant_till_guesses WHERE till_id = $1 AND at < $2",
                till_id, now - self._window,
            )  # fmt: skip
