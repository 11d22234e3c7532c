"""API tokens of the wallet, kept in its own database (table ``wallet_api_tokens``).

A token is ``kgo_`` and 32 random bytes (urlsafe); only its SHA-256 is stored. The tokens are
high-entropy, so a fast hash is enough: nobody can guess one to match a leaked hash. A token
is shown once, when it is issued; an issue replayed with the same idempotency key answers the
same token id without the secret.

Successful lookups are cached for ``cache_seconds`` (5 by default) per process: a revocation
takes effect at once in the process that revoked, and within those seconds in the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

import asyncpg

from kgo_runtime.postgres import ensure_schema, schema_name

TOKEN_PREFIX = "kgo_"
#: A presented token longer than this is refused without a database round trip.
MAX_TOKEN_LENGTH = 100
_CACHE_LIMIT = 10_000


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= MAX_TOKEN_LENGTH


@dataclass(frozen=True)
class ApiToken:
    """What the wallet knows about a token: never the token itself."""

    token_id: UUID
    name: str
    role: str
    subject: str | None
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class IssuedToken:
    """An issued token; ``token`` is None when the issue was a replay."""

    record: ApiToken
    token: str | None
    replayed: bool = False


class TokenKeyReused(Exception):
    """The idempotency key was already used to issue a different token."""


class ApiTokens(Protocol):
    """Everything the HTTP API and the CLI ask of a token store."""

    async def authenticate(self, token: str) -> ApiToken | None: ...

    async def issue(
        self,
        role: str,
        name: str,
        subject: str | None = None,
        *,
        issued_by: str | None = None,
        idempotency_key: str | None = None,
    ) -> IssuedToken: ...

    async def list(self, *, include_revoked: bool = False) -> list[ApiToken]: ...

    async def revoke(self, token_id: UUID) -> ApiToken | None: ...


_COLUMNS = "token_id, name, role, subject, created_at, revoked_at"


class PostgresTokenStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        schema: str = "public",
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._schema = schema_name(schema)
        self._table = f"{self._schema}.wallet_api_tokens"
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[ApiToken, float]] = {}

    async def create_tables(self) -> None:
        await ensure_schema(self._pool, self._schema)
        # Two processes starting at once may race on the catalogue; the loser's table exists.
        with contextlib.suppress(
            asyncpg.UniqueViolationError, asyncpg.DuplicateTableError, asyncpg.DuplicateObjectError
        ):
            await self._pool.execute(f"""
                CREATE TABLE IF NOT EXISTS {self._table} (
                    token_id uuid PRIMARY KEY,
                    token_hash text NOT NULL UNIQUE,
                    name text NOT NULL,
                    role text NOT NULL,
                    subject text NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    revoked_at timestamptz NULL,
                    issued_by text NULL,
                    idempotency_key text NULL,
                    UNIQUE (issued_by, idempotency_key)
                )""")

    async def authenticate(self, token: str) -> ApiToken | None:
        if not looks_like_token(token):
            return None
        digest = token_hash(token)
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM {self._table} WHERE token_hash = $1 AND revoked_at IS NULL",
            digest,
        )
        if row is None:
            self._cache.pop(digest, None)
            return None
        record = _record(row)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[digest] = (record, self._clock() + self._cache_seconds)
        return record

    async def issue(
        self,
        role: str,
        name: str,
        subject: str | None = None,
        *,
        issued_by: str | None = None,
        idempotency_key: str | None = None,
    ) -> IssuedToken:
        token = new_token()
        row = await self._pool.fetchrow(
            f"""INSERT INTO {self._table}
                    (token_id, token_hash, name, role, subject, issued_by, idempotency_key)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (issued_by, idempotency_key) DO NOTHING
                RETURNING {_COLUMNS}""",
            uuid4(), token_hash(token), name, role, subject, issued_by, idempotency_key,
        )  # fmt: skip
        if row is not None:
            return IssuedToken(_record(row), token)
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM {self._table} WHERE issued_by = $1 AND idempotency_key = $2",
            issued_by, idempotency_key,
        )  # fmt: skip
        record = _record(row)
        if (record.role, record.name, record.subject) != (role, name, subject):
            raise TokenKeyReused("this idempotency key was already used for a different token")
        return IssuedToken(record, None, replayed=True)

    async def list(self, *, include_revoked: bool = False) -> list[ApiToken]:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM {self._table} {where} ORDER BY created_at, token_id"
        )
        return [_record(row) for row in rows]

    async def revoke(self, token_id: UUID) -> ApiToken | None:
        """Revoke a token (revoking twice keeps the first time); None if there is none."""
        row = await self._pool.fetchrow(
            f"""UPDATE {self._table} SET revoked_at = coalesce(revoked_at, now())
                WHERE token_id = $1 RETURNING {_COLUMNS}""",
            token_id,
        )
        self._cache = {k: v for k, v in self._cache.items() if v[0].token_id != token_id}
        return None if row is None else _record(row)


def _record(row: asyncpg.Record) -> ApiToken:
    return ApiToken(
        token_id=row["token_id"],
        name=row["name"],
        role=row["role"],
        subject=row["subject"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )
