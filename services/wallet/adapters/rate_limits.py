"""A rate limiter shared by every wallet process (table ``wallet_rate_limits``).

Fixed windows: a bucket (say, code sends to one phone) counts its hits per window in one row,
incremented atomically with an upsert, so several processes count together. A hit beyond the
limit is answered with the time until the window ends. Buckets carry keyed hashes, never a
phone number or an address. Rows of windows long past are deleted now and then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from kgo_runtime.postgres import create_tables, ensure_schema, schema_name

_PRUNE_EVERY = 200


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window ``now`` falls in (windows are aligned on the epoch)."""
    seconds = max(1, int(window.total_seconds()))
    stamp = int(now.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=now.tzinfo)


class PostgresRateLimiter:
    def __init__(self, pool: asyncpg.Pool, *, schema: str = "public") -> None:
        self._pool = pool
        self._schema = schema_name(schema)
        self._table = f"{self._schema}.wallet_rate_limits"
        self._hits = 0

    async def create_tables(self) -> None:
        await ensure_schema(self._pool, self._schema)
        await create_tables(
            self._pool,
            f"""CREATE TABLE IF NOT EXISTS {self._table} (
                    bucket text NOT NULL,
                    window_start timestamptz NOT NULL,
                    window_end timestamptz NOT NULL,
                    hits integer NOT NULL,
                    PRIMARY KEY (bucket, window_start)
                )""",
        )

    async def hit(
        self, bucket: str, *, limit: int, window: timedelta, now: datetime
    ) -> timedelta | None:
        start = window_start(now, window)
        end = start + window
        hits = await self._pool.fetchval(
            f"""INSERT INTO {self._table} AS t (bucket, window_start, window_end, hits)
                VALUES ($1, $2, $3, 1)
                ON CONFLICT (bucket, window_start) DO UPDATE SET hits = t.hits + 1
                RETURNING hits""",
            bucket, start, end,
        )  # fmt: skip
        self._hits += 1
        if self._hits % _PRUNE_EVERY == 0:
            await self._pool.execute(
                f"DELETE FROM {self._table} WHERE window_end < $1", now - timedelta(days=1)
            )
        return None if hits <= limit else end - now
