"""One-time code challenges, kept in the wallet's database (table ``wallet_code_challenges``).

A row holds the code's keyed hash, never the code. Judging a presented code locks the row
(``SELECT ... FOR UPDATE``), so two wallet processes never both accept one code, and counts
the attempt in the same transaction. A row starts from one request (its keyed
``request_key``): the same request again finds it instead of sending a second code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from kgo_runtime.access import AccessKeyError
from kgo_runtime.postgres import create_tables, ensure_schema, schema_name

from ..domain.resident_access import Challenge, Purpose, Verdict
from ..settings import WalletSettings
from .personal_data import MIN_INDEX_KEY_BYTES, configured_key

_COLUMNS = (
    "challenge_id, purpose, phone_index, code_hash, created_at, expires_at, max_attempts, "
    "wallet_id, sealed_request, attempts, confirmed_at, confirmed_by"
)
#: Challenges are kept this long after they expire (replays of a request find them), then go.
KEEP = timedelta(days=1)
_PRUNE_EVERY = 200


def code_secret(settings: WalletSettings) -> bytes:
    """The HMAC key of codes: configured, or on a developer machine generated once."""
    key = configured_key(
        settings.access_code_key, settings.access_code_key_file,
        "WALLET_ACCESS_CODE_KEY", "access-codes",
    )  # fmt: skip
    if len(key) < MIN_INDEX_KEY_BYTES:
        raise AccessKeyError(
            f"WALLET_ACCESS_CODE_KEY must be at least {MIN_INDEX_KEY_BYTES} bytes, got {len(key)}"
        )
    return key


class PostgresChallenges:
    def __init__(self, pool: asyncpg.Pool, *, schema: str = "public") -> None:
        self._pool = pool
        self._schema = schema_name(schema)
        self._table = f"{self._schema}.wallet_code_challenges"
        self._added = 0

    async def create_tables(self) -> None:
        await ensure_schema(self._pool, self._schema)
        await create_tables(
            self._pool,
            f"""CREATE TABLE IF NOT EXISTS {self._table} (
                    challenge_id uuid PRIMARY KEY,
                    request_key text NOT NULL UNIQUE,
                    request_hash text NOT NULL,
                    purpose text NOT NULL,
                    phone_index text NOT NULL,
                    code_hash text NOT NULL,
                    created_at timestamptz NOT NULL,
                    expires_at timestamptz NOT NULL,
                    max_attempts integer NOT NULL,
                    wallet_id uuid NULL,
                    sealed_request text NULL,
                    attempts integer NOT NULL DEFAULT 0,
                    confirmed_at timestamptz NULL,
                    confirmed_by text NULL
                )""",
        )

    async def find_request(self, request_key: str) -> tuple[Challenge, str] | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS}, request_hash FROM {self._table} WHERE request_key = $1",
            request_key,
        )
        return None if row is None else (_challenge(row), row["request_hash"])

    async def add(self, challenge: Challenge, *, request_key: str, request_hash: str) -> bool:
        c = challenge
        status = await self._pool.execute(
            f"""INSERT INTO {self._table} ({_COLUMNS}, request_key, request_hash)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                ON CONFLICT (request_key) DO NOTHING""",
            c.challenge_id, str(c.purpose), c.phone_index, c.code_hash, c.created_at,
            c.expires_at, c.max_attempts, c.wallet_id, c.sealed_request, c.attempts,
            c.confirmed_at, c.confirmed_by, request_key, request_hash,
        )  # fmt: skip
        self._added += 1
        if self._added % _PRUNE_EVERY == 0:
            await self.prune(c.created_at)
        return bool(status == "INSERT 0 1")

    async def decide(
        self,
        challenge_id: UUID,
        purpose: Purpose,
        judge: Callable[[Challenge], tuple[Verdict, Challenge]],
    ) -> tuple[Verdict, Challenge] | None:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""SELECT {_COLUMNS} FROM {self._table}
                    WHERE challenge_id = $1 AND purpose = $2 FOR UPDATE""",
                challenge_id, str(purpose),
            )  # fmt: skip
            if row is None:
                return None
            before = _challenge(row)
            verdict, after = judge(before)
            if after != before:
                await conn.execute(
                    f"""UPDATE {self._table}
                        SET attempts = $2, confirmed_at = $3, confirmed_by = $4
                        WHERE challenge_id = $1""",
                    challenge_id, after.attempts, after.confirmed_at, after.confirmed_by,
                )  # fmt: skip
            return verdict, after

    async def prune(self, now: datetime) -> int:
        """Delete challenges that expired more than :data:`KEEP` ago."""
        status = await self._pool.execute(
            f"DELETE FROM {self._table} WHERE expires_at < $1", now - KEEP
        )
        return int(status.split()[-1])


def _challenge(row: asyncpg.Record) -> Challenge:
    return Challenge(
        challenge_id=row["challenge_id"],
        purpose=Purpose(row["purpose"]),
        phone_index=row["phone_index"],
        code_hash=row["code_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        max_attempts=row["max_attempts"],
        wallet_id=row["wallet_id"],
        sealed_request=row["sealed_request"],
        attempts=row["attempts"],
        confirmed_at=row["confirmed_at"],
        confirmed_by=row["confirmed_by"],
    )
