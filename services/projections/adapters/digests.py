"""The published daily digests, as the wallet signed them (``kgo.public.digests``), kept in
one table beside the read models and served as they are: projections recompute nothing here
(``kgo audit verify`` does, from Kafka alone)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import asyncpg

from kgo_runtime.envelope import Envelope
from kgo_runtime.postgres import create_tables, schema_name

TABLE = "public_digests"


def ddl(schema: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {schema_name(schema)}.{TABLE} (day date PRIMARY KEY,"
        " closed_at timestamptz NOT NULL, digest jsonb NOT NULL)"
    )


class DigestTable:
    def __init__(self, schema: str) -> None:
        self.schema = schema_name(schema)

    async def create(self, pool: asyncpg.Pool) -> None:
        await create_tables(pool, ddl(self.schema))

    async def keep(self, conn: asyncpg.Connection, envelope: Envelope) -> None:
        """The consumer's handler: the first digest of a day is kept (a second, different one
        is for the verifier to report, not for the read model to pick)."""
        payload = envelope.event.model_dump(mode="json")
        await conn.execute(
            f"INSERT INTO {self.schema}.{TABLE} VALUES ($1, $2, $3::jsonb) "
            "ON CONFLICT (day) DO NOTHING",
            date.fromisoformat(payload["day"]),
            envelope.event.business_time(),
            json.dumps(payload),
        )

    async def between(
        self, pool: asyncpg.Pool, since: date | None, until: date | None
    ) -> list[dict[str, Any]]:
        try:
            rows = await pool.fetch(
                f"SELECT digest FROM {self.schema}.{TABLE} WHERE ($1::date IS NULL OR day >= $1)"
                " AND ($2::date IS NULL OR day <= $2) ORDER BY day",
                since,
                until,
            )
        except asyncpg.UndefinedTableError:
            return []
        return [json.loads(r["digest"]) for r in rows]

    async def of(self, pool: asyncpg.Pool, day: date) -> dict[str, Any] | None:
        found = await self.between(pool, day, day)
        return found[0] if found else None
