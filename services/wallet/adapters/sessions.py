"""Residents' refresh tokens, kept hashed (table ``wallet_refresh_tokens``).

A refresh locks the presented token's row and its successor's, lets the domain rule
(:func:`..domain.resident_access.rotate`) decide, and writes the rotation in the same
transaction: two concurrent refreshes with one token cannot both rotate it, and the second is
the reuse that revokes the family.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from kgo_runtime.postgres import create_tables, ensure_schema, schema_name

from ..domain.resident_access import RefreshGrant, Rotation

_PRUNE_EVERY = 200
_COLUMNS = (
    "token_hash, family_id, wallet_id, issued_at, expires_at, rotated_at, rotated_by, "
    "replaced_by, revoked"
)


class PostgresRefreshTokens:
    def __init__(self, pool: asyncpg.Pool, *, schema: str = "public") -> None:
        self._pool = pool
        self._schema = schema_name(schema)
        self._table = f"{self._schema}.wallet_refresh_tokens"
        self._added = 0

    async def create_tables(self) -> None:
        await ensure_schema(self._pool, self._schema)
        await create_tables(
            self._pool,
            f"""CREATE TABLE IF NOT EXISTS {self._table} (
                    token_hash text PRIMARY KEY,
                    family_id uuid NOT NULL,
                    wallet_id uuid NOT NULL,
                    issued_at timestamptz NOT NULL,
                    expires_at timestamptz NOT NULL,
                    rotated_at timestamptz NULL,
                    rotated_by text NULL,
                    replaced_by text NULL,
                    revoked boolean NOT NULL DEFAULT false
                );
                CREATE INDEX IF NOT EXISTS wallet_refresh_tokens_family
                    ON {self._table} (family_id)""",
        )

    async def add(self, grant: RefreshGrant) -> None:
        await self._insert(self._pool, grant)
        self._added += 1
        if self._added % _PRUNE_EVERY == 0:
            await self.prune(grant.issued_at)

    async def prune(self, now: datetime) -> int:
        """Delete refresh tokens a day past their expiry (a reuse of one is then only invalid)."""
        status = await self._pool.execute(
            f"DELETE FROM {self._table} WHERE expires_at < $1", now - timedelta(days=1)
        )
        return int(status.split()[-1])

    async def decide(
        self,
        token_hash: str,
        judge: Callable[[RefreshGrant | None, RefreshGrant | None], Rotation],
    ) -> Rotation:
        async with self._pool.acquire() as conn, conn.transaction():
            presented = await self._locked(conn, token_hash)
            successor = None
            if presented is not None and presented.replaced_by is not None:
                successor = await self._locked(conn, presented.replaced_by)
            rotation = judge(presented, successor)
            if rotation.revoke_family is not None:
                await conn.execute(
                    f"UPDATE {self._table} SET revoked = true WHERE family_id = $1",
                    rotation.revoke_family,
                )
            if rotation.revoke_token is not None:
                await conn.execute(
                    f"UPDATE {self._table} SET revoked = true WHERE token_hash = $1",
                    rotation.revoke_token,
                )
            if rotation.presented is not None:
                p = rotation.presented
                await conn.execute(
                    f"""UPDATE {self._table} SET rotated_at = $2, rotated_by = $3,
                        replaced_by = $4 WHERE token_hash = $1""",
                    p.token_hash, p.rotated_at, p.rotated_by, p.replaced_by,
                )  # fmt: skip
            if rotation.issued is not None:
                await self._insert(conn, rotation.issued)
            return rotation

    async def _locked(self, conn: asyncpg.Connection, token_hash: str) -> RefreshGrant | None:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM {self._table} WHERE token_hash = $1 FOR UPDATE", token_hash
        )
        return None if row is None else RefreshGrant(**dict(row))

    async def _insert(self, conn: asyncpg.Pool | asyncpg.Connection, grant: RefreshGrant) -> None:
        g = grant
        await conn.execute(
            f"INSERT INTO {self._table} ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            g.token_hash, g.family_id, g.wallet_id, g.issued_at, g.expires_at, g.rotated_at,
            g.rotated_by, g.replaced_by, g.revoked,
        )  # fmt: skip
