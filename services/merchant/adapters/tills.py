"""Till credentials: one or more per shop, each a ``kgo_till_...`` secret shown once and
stored only as its SHA-256 (a 256-bit random secret needs no slow hash), rotatable and
revocable. A till authenticates as a ``payee`` principal whose subject is its shop, and only
that shop's routes accept it."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from kgo_runtime.access import Principal, Role
from kgo_runtime.clock import Clock
from kgo_runtime.postgres import create_tables, schema_name

TILL_PREFIX = "kgo_till_"
#: How long an authenticated till is trusted without asking Postgres again (a revocation
#: reaches other merchant processes within this time; this one at once).
CACHE_SECONDS = 5.0

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.merchant_tills (
    till_id uuid PRIMARY KEY, shop_id uuid NOT NULL, label text NOT NULL,
    secret_hash text NOT NULL UNIQUE, created_at timestamptz NOT NULL,
    rotated_at timestamptz, revoked_at timestamptz, issue_key text NOT NULL,
    UNIQUE (shop_id, issue_key));
CREATE INDEX IF NOT EXISTS merchant_tills_shop ON {s}.merchant_tills (shop_id);
"""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def till_principal(till_id: UUID, shop_id: UUID, label: str) -> Principal:
    return Principal(till_id, Role.PAYEE, f"till:{label}", str(shop_id))


@dataclass(frozen=True)
class IssuedTill:
    till_id: UUID
    shop_id: UUID
    label: str
    #: Shown once: None when a retry of the same request answers again.
    secret: str | None


class TillRegistry:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, *, schema: str = "public") -> None:
        self._pool, self._clock, self._s = pool, clock, schema_name(schema)
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def create_tables(self) -> None:
        await create_tables(self._pool, _DDL.format(s=self._s))

    async def issue(self, shop_id: UUID, label: str, *, key: str) -> tuple[IssuedTill, bool]:
        """A new till for the shop, and whether it is new (a retry with the same key gets
        the same till again, without its secret)."""
        till_id, secret = uuid4(), TILL_PREFIX + secrets.token_urlsafe(32)
        inserted = await self._pool.fetchval(
            f"INSERT INTO {self._s}.merchant_tills (till_id, shop_id, label, secret_hash, "
            "created_at, issue_key) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (shop_id, issue_key) DO NOTHING RETURNING till_id",
            till_id, shop_id, label, _digest(secret), self._clock.now(), key,
        )  # fmt: skip
        if inserted is not None:
            return IssuedTill(till_id, shop_id, label, secret), True
        row = await self._pool.fetchrow(
            f"SELECT till_id, label FROM {self._s}.merchant_tills "
            "WHERE shop_id = $1 AND issue_key = $2",
            shop_id, key,
        )  # fmt: skip
        return IssuedTill(UUID(str(row["till_id"])), shop_id, row["label"], None), False

    async def rotate(self, shop_id: UUID, till_id: UUID) -> IssuedTill | None:
        """A new secret for the till; the old one stops working at once."""
        secret = TILL_PREFIX + secrets.token_urlsafe(32)
        row = await self._pool.fetchrow(
            f"UPDATE {self._s}.merchant_tills SET secret_hash = $3, rotated_at = $4 "
            "WHERE till_id = $1 AND shop_id = $2 AND revoked_at IS NULL RETURNING label",
            till_id, shop_id, _digest(secret), self._clock.now(),
        )  # fmt: skip
        self._cache.clear()
        return None if row is None else IssuedTill(till_id, shop_id, row["label"], secret)

    async def revoke(self, shop_id: UUID, till_id: UUID) -> bool:
        done = await self._pool.execute(
            f"UPDATE {self._s}.merchant_tills SET revoked_at = $3 "
            "WHERE till_id = $1 AND shop_id = $2 AND revoked_at IS NULL",
            till_id, shop_id, self._clock.now(),
        )  # fmt: skip
        self._cache.clear()
        return bool(done.endswith(" 1"))

    async def list(self, shop_id: UUID) -> list[dict[str, object]]:
        rows = await self._pool.fetch(
            f"SELECT till_id, label, created_at, rotated_at, revoked_at "
            f"FROM {self._s}.merchant_tills WHERE shop_id = $1 ORDER BY created_at",
            shop_id,
        )
        return [{k: _plain(v) for k, v in dict(row).items()} for row in rows]

    async def authenticate(self, token: str) -> Principal | None:
        """The till's principal for a valid, unrevoked secret; None for anything else (other
        kinds of token fall through to the next authenticator)."""
        if not token.startswith(TILL_PREFIX):
            return None
        now = time.monotonic()
        cached = self._cache.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        row = await self._pool.fetchrow(
            f"SELECT till_id, shop_id, label FROM {self._s}.merchant_tills "
            "WHERE secret_hash = $1 AND revoked_at IS NULL",
            _digest(token),
        )
        if row is None:
            return None
        # asyncpg's own UUID type would not survive the event store's transcoder.
        principal = till_principal(UUID(str(row["till_id"])), UUID(str(row["shop_id"])),
                                   row["label"])  # fmt: skip
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (principal, now + CACHE_SECONDS)
        return principal


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value
