"""The mutable half of residents' personal data: wrapped data keys and blind indexes, in the
wallet's database (not the event store), so that an erasure can delete them.

- ``wallet_data_keys``: a resident's data key, wrapped by the service key, and the registration
  request that reserved it. Erasure sets ``wrapped`` to NULL and ``erased_at``.
- ``wallet_identity_index``: a blind index (HMAC of a national ID or phone) and the random id
  of its identity claim. Erasure deletes the row (or, for a national ID that may not register
  again, keeps it without its claim, ``erased_at`` set).
- ``wallet_erasures``: who erased whom, why, under which reference.

The erasure also deletes what else the blind indexes touched: the resident's refresh tokens,
pending challenges of its phone, and the rate counters of that phone.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import asyncpg

from kgo_runtime.postgres import create_tables, ensure_schema, schema_name

from ..application.resident_ports import Erasure


class PostgresResidentKeys:
    def __init__(self, pool: asyncpg.Pool, *, schema: str = "public") -> None:
        self._pool = pool
        self._schema = schema_name(schema)
        self._keys = f"{self._schema}.wallet_data_keys"
        self._index = f"{self._schema}.wallet_identity_index"
        self._erasures = f"{self._schema}.wallet_erasures"

    async def create_tables(self) -> None:
        await ensure_schema(self._pool, self._schema)
        await create_tables(
            self._pool,
            f"""CREATE TABLE IF NOT EXISTS {self._keys} (
                    wallet_id uuid PRIMARY KEY,
                    request_key text NULL UNIQUE,
                    wrapped text NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    erased_at timestamptz NULL
                );
                CREATE TABLE IF NOT EXISTS {self._index} (
                    blind_index text PRIMARY KEY,
                    kind text NOT NULL,
                    claim_id uuid NULL UNIQUE,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    erased_at timestamptz NULL
                );
                CREATE TABLE IF NOT EXISTS {self._erasures} (
                    wallet_id uuid PRIMARY KEY,
                    reason text NOT NULL,
                    reference text NOT NULL,
                    requested_by text NOT NULL,
                    erased_at timestamptz NOT NULL
                )""",
        )

    async def reserve(
        self, request_key: str, wallet_id: UUID, wrapped: str
    ) -> tuple[UUID, str | None]:
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"INSERT INTO {self._keys} (wallet_id, request_key, wrapped) VALUES ($1, $2, $3) "
                "ON CONFLICT (request_key) DO NOTHING",
                wallet_id, request_key, wrapped,
            )  # fmt: skip
            row = await conn.fetchrow(
                f"SELECT wallet_id, wrapped FROM {self._keys} WHERE request_key = $1", request_key
            )
        assert row is not None
        return UUID(str(row["wallet_id"])), row["wrapped"]

    async def key_of(self, wallet_id: UUID) -> str | None:
        wrapped: str | None = await self._pool.fetchval(
            f"SELECT wrapped FROM {self._keys} WHERE wallet_id = $1", wallet_id
        )
        return wrapped

    async def add_key(self, wallet_id: UUID, wrapped: str) -> str | None:
        await self._pool.execute(
            f"INSERT INTO {self._keys} (wallet_id, wrapped) VALUES ($1, $2) "
            "ON CONFLICT (wallet_id) DO NOTHING",
            wallet_id, wrapped,
        )  # fmt: skip
        return await self.key_of(wallet_id)

    async def claim(self, kind: str, blind_index: str) -> UUID | None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"INSERT INTO {self._index} (blind_index, kind, claim_id) VALUES ($1, $2, $3) "
                "ON CONFLICT (blind_index) DO NOTHING",
                blind_index, kind, uuid4(),
            )  # fmt: skip
            claim = await conn.fetchval(
                f"SELECT claim_id FROM {self._index} WHERE blind_index = $1", blind_index
            )
        return _uuid(claim)

    async def find_claim(self, blind_index: str) -> UUID | None:
        claim = await self._pool.fetchval(
            f"SELECT claim_id FROM {self._index} WHERE blind_index = $1", blind_index
        )
        return _uuid(claim)

    async def erase(self, erasure: Erasure, claims: list[UUID], *, keep_national_id: bool) -> None:
        s, w, at = self._schema, erasure.wallet_id, erasure.erased_at
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO {self._keys} (wallet_id, wrapped, erased_at) VALUES ($1, NULL, $2) "
                "ON CONFLICT (wallet_id) DO UPDATE SET wrapped = NULL, "
                f"erased_at = coalesce({self._keys}.erased_at, $2)",
                w, at,
            )  # fmt: skip
            phones = await conn.fetch(
                f"SELECT blind_index FROM {self._index} "
                "WHERE claim_id = ANY($1) AND kind = 'phone'",
                claims,
            )
            phone_indexes = [r["blind_index"] for r in phones]
            if keep_national_id:
                await conn.execute(
                    f"UPDATE {self._index} SET claim_id = NULL, erased_at = $2 "
                    "WHERE claim_id = ANY($1) AND kind = 'national_id'",
                    claims, at,
                )  # fmt: skip
            await conn.execute(f"DELETE FROM {self._index} WHERE claim_id = ANY($1)", claims)
            await conn.execute(
                f"INSERT INTO {self._erasures} (wallet_id, reason, reference, requested_by, "
                "erased_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (wallet_id) DO NOTHING",
                w, erasure.reason, erasure.reference, erasure.requested_by, at,
            )  # fmt: skip
            # What the blind indexes and the wallet touched elsewhere (tables may be absent
            # in a database that never served sign-ins).
            for statement, arg in (
                (f"DELETE FROM {s}.wallet_refresh_tokens WHERE wallet_id = $1", w),
                (
                    f"DELETE FROM {s}.wallet_code_challenges "
                    "WHERE wallet_id = $1 OR phone_index = ANY($2)",
                    (w, phone_indexes),
                ),
                (
                    f"DELETE FROM {s}.wallet_rate_limits WHERE bucket = ANY($1)",
                    [f"send:phone:{i}" for i in phone_indexes],
                ),
            ):
                args = arg if isinstance(arg, tuple) else (arg,)
                # A savepoint each: a table absent (no sign-in ever served) is fine.
                with contextlib.suppress(asyncpg.UndefinedTableError):
                    async with conn.transaction():
                        await conn.execute(statement, *args)

    async def erasure(self, wallet_id: UUID) -> Erasure | None:
        row = await self._pool.fetchrow(
            f"SELECT wallet_id, reason, reference, requested_by, erased_at FROM {self._erasures} "
            "WHERE wallet_id = $1",
            wallet_id,
        )
        return None if row is None else Erasure(**{**dict(row), "wallet_id": wallet_id})

    async def wrapped_keys(self, after: UUID | None, limit: int) -> list[tuple[UUID, str]]:
        rows = await self._pool.fetch(
            f"SELECT wallet_id, wrapped FROM {self._keys} WHERE wrapped IS NOT NULL "
            "AND ($1::uuid IS NULL OR wallet_id > $1) ORDER BY wallet_id LIMIT $2",
            after, limit,
        )  # fmt: skip
        return [(UUID(str(r["wallet_id"])), r["wrapped"]) for r in rows]

    async def replace_key(self, wallet_id: UUID, old: str, new: str) -> bool:
        # Compare-and-set: an erasure (wrapped NULL) since the read wins.
        done = await self._pool.fetchval(
            f"UPDATE {self._keys} SET wrapped = $3 WHERE wallet_id = $1 AND wrapped = $2 "
            "RETURNING true",
            wallet_id, old, new,
        )  # fmt: skip
        return bool(done)


def _uuid(value: object) -> UUID | None:
    """asyncpg's own UUID type as the standard one (the event store's transcoder knows only
    that)."""
    return None if value is None else UUID(str(value))


@dataclass
class MemoryResidentKeys:
    """The same contract in memory (tests, and an app built without a database)."""

    keys: dict[UUID, str | None] = field(default_factory=dict)
    requests: dict[str, UUID] = field(default_factory=dict)
    index: dict[str, tuple[str, UUID | None]] = field(default_factory=dict)
    erasures: dict[UUID, Erasure] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def reserve(
        self, request_key: str, wallet_id: UUID, wrapped: str
    ) -> tuple[UUID, str | None]:
        async with self._lock:
            if request_key not in self.requests:
                self.requests[request_key] = wallet_id
                self.keys[wallet_id] = wrapped
            found = self.requests[request_key]
            return found, self.keys.get(found)

    async def key_of(self, wallet_id: UUID) -> str | None:
        return self.keys.get(wallet_id)

    async def add_key(self, wallet_id: UUID, wrapped: str) -> str | None:
        self.keys.setdefault(wallet_id, wrapped)
        return self.keys[wallet_id]

    async def claim(self, kind: str, blind_index: str) -> UUID | None:
        self.index.setdefault(blind_index, (kind, uuid4()))
        return self.index[blind_index][1]

    async def find_claim(self, blind_index: str) -> UUID | None:
        found = self.index.get(blind_index)
        return None if found is None else found[1]

    async def erase(self, erasure: Erasure, claims: list[UUID], *, keep_national_id: bool) -> None:
        self.keys[erasure.wallet_id] = None
        for blind_index, (kind, claim) in list(self.index.items()):
            if claim in claims:
                if keep_national_id and kind == "national_id":
                    self.index[blind_index] = (kind, None)
                else:
                    del self.index[blind_index]
        self.erasures.setdefault(erasure.wallet_id, erasure)

    async def erasure(self, wallet_id: UUID) -> Erasure | None:
        return self.erasures.get(wallet_id)

    async def wrapped_keys(self, after: UUID | None, limit: int) -> list[tuple[UUID, str]]:
        live = sorted((w, k) for w, k in self.keys.items() if k is not None)
        return [(w, k) for w, k in live if after is None or w > after][:limit]

    async def replace_key(self, wallet_id: UUID, old: str, new: str) -> bool:
        if self.keys.get(wallet_id) != old:
            return False
        self.keys[wallet_id] = new
        return True
