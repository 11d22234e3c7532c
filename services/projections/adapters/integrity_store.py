"""The integrity read model's tables (``integrity_*`` in the projections' schema) and its
store on one connection: the consumer's transaction when it applies events, the pool when
the API reads flags.

Only this component writes these tables; ``kgo replay`` does not rebuild them (they are not
among :data:`services.projections.adapters.tables.MODELS`). To rebuild them, drop the
``integrity_*`` tables and the ``projections_integrity`` rows of ``consumer_positions`` and
``consumer_inbox``: the consumer reads the topics again from the beginning.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.projections.application.integrity import Redemption
from services.projections.domain.integrity import (
    Flag,
    FlagKind,
    ShopRules,
    ShopWindow,
    Signup,
    Tap,
)

TABLES = {
    "integrity_shops": "shop_id uuid PRIMARY KEY, coin_value_satang bigint NOT NULL,"
    " max_coin_share_percent int NOT NULL, cap_per_bill_coins bigint",
    "integrity_redemptions": "redemption_id uuid PRIMARY KEY, shop_id uuid NOT NULL,"
    " wallet_id uuid NOT NULL, coins bigint NOT NULL, at_cap boolean NOT NULL,"
    " just_under boolean NOT NULL, occurred_at timestamptz NOT NULL,"
    " voided boolean NOT NULL DEFAULT false",
    "integrity_edges": "movement_id uuid PRIMARY KEY, payer uuid NOT NULL, payee uuid NOT NULL,"
    " coins bigint NOT NULL, occurred_at timestamptz NOT NULL",
    "integrity_signups": "account_id uuid PRIMARY KEY, occurred_at timestamptz NOT NULL,"
    " origin_device text, origin_network text",
    "integrity_taps": "trip_id uuid PRIMARY KEY, wallet_id uuid NOT NULL,"
    " validator_id text NOT NULL, occurred_at timestamptz NOT NULL",
    "integrity_flags": "flag_id uuid PRIMARY KEY, kind text NOT NULL, subject text NOT NULL,"
    " shop_id uuid, accounts uuid[] NOT NULL, reason text NOT NULL,"
    " evidence jsonb NOT NULL, raised_at timestamptz NOT NULL,"
    " updated_at timestamptz NOT NULL",
    "integrity_progress": "id int PRIMARY KEY DEFAULT 1, business_time timestamptz,"
    " committed_at timestamptz NOT NULL DEFAULT now()",
}
#: Columns added since a table was first made: added to an existing table, which keeps its rows
#: (sign-ups recorded before have no origin).
ADDED_COLUMNS = {
    "integrity_signups": ["origin_device text", "origin_network text"],
}
INDEXES = {
    "integrity_redemptions": ["(shop_id, occurred_at)", "(wallet_id, shop_id, occurred_at)"],
    "integrity_edges": ["(payer, occurred_at)"],
    "integrity_signups": [
        "(occurred_at)",
        "(origin_device, occurred_at) WHERE origin_device IS NOT NULL",
        "(origin_network, occurred_at) WHERE origin_network IS NOT NULL",
    ],
    "integrity_taps": ["(wallet_id, occurred_at)"],
    "integrity_flags": ["(updated_at)", "(kind, updated_at)", "(shop_id)"],
}


def integrity_ddl(schema: str) -> str:
    statements = [f"CREATE SCHEMA IF NOT EXISTS {schema}"]
    for table, columns in TABLES.items():
        statements.append(f"CREATE TABLE IF NOT EXISTS {schema}.{table} ({columns})")
        for column in ADDED_COLUMNS.get(table, []):
            statements.append(f"ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS {column}")
        for i, cols in enumerate(INDEXES.get(table, [])):
            statements.append(f"CREATE INDEX IF NOT EXISTS {table}_i{i} ON {schema}.{table} {cols}")
    statements.append(
        f"INSERT INTO {schema}.integrity_progress (id) VALUES (1) ON CONFLICT DO NOTHING"
    )
    return ";\n".join(statements)


class PostgresIntegrityStore:
    """:class:`~services.projections.application.integrity.IntegrityStore` on ``conn``."""

    def __init__(self, conn: asyncpg.Connection, schema: str) -> None:
        self.conn = conn
        self.s = schema

    async def shop_rules(self, shop: UUID) -> ShopRules | None:
        row = await self.conn.fetchrow(
            f"SELECT coin_value_satang, max_coin_share_percent, cap_per_bill_coins"
            f" FROM {self.s}.integrity_shops WHERE shop_id = $1",
            shop,
        )
        return None if row is None else ShopRules(*row.values())

    async def save_shop_rules(self, shop: UUID, rules: ShopRules) -> None:
        await self.conn.execute(
            f"INSERT INTO {self.s}.integrity_shops VALUES ($1, $2, $3, $4) ON CONFLICT (shop_id)"
            " DO UPDATE SET coin_value_satang = $2, max_coin_share_percent = $3,"
            " cap_per_bill_coins = $4",
            shop, rules.coin_value_satang, rules.max_coin_share_percent, rules.cap_per_bill_coins,
        )  # fmt: skip

    async def add_redemption(self, r: Redemption) -> bool:
        return bool(await self.conn.fetchval(
            f"INSERT INTO {self.s}.integrity_redemptions (redemption_id, shop_id, wallet_id,"
            " coins, at_cap, just_under, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT DO NOTHING RETURNING true",
            r.redemption_id, r.shop_id, r.wallet_id, r.coins, r.at_cap, r.just_under, r.at,
        ))  # fmt: skip

    async def void_redemption(self, redemption: UUID) -> None:
        await self.conn.execute(
            f"UPDATE {self.s}.integrity_redemptions SET voided = true WHERE redemption_id = $1",
            redemption,
        )

    async def pair_at_cap(self, wallet: UUID, shop: UUID, since: datetime) -> int:
        return int(await self.conn.fetchval(
            f"SELECT count(*) FROM {self.s}.integrity_redemptions WHERE wallet_id = $1"
            " AND shop_id = $2 AND occurred_at >= $3 AND at_cap AND NOT voided",
            wallet, shop, since,
        ))  # fmt: skip

    async def shop_window(self, shop: UUID, since: datetime, top: int) -> ShopWindow:
        rows = await self.conn.fetch(
            f"SELECT wallet_id, sum(coins) AS coins, count(*) AS n,"
            " count(*) FILTER (WHERE just_under) AS under"
            f" FROM {self.s}.integrity_redemptions"
            " WHERE shop_id = $1 AND occurred_at >= $2 AND NOT voided"
            " GROUP BY wallet_id ORDER BY sum(coins) DESC, wallet_id",
            shop, since,
        )  # fmt: skip
        return ShopWindow(
            redemptions=sum(r["n"] for r in rows),
            coins=sum(int(r["coins"]) for r in rows),
            just_under=sum(r["under"] for r in rows),
            top=[(r["wallet_id"], int(r["coins"])) for r in rows[:top]],
        )

    async def add_edge(
        self, movement: UUID, payer: UUID, payee: UUID, coins: int, at: datetime
    ) -> bool:
        return bool(await self.conn.fetchval(
            f"INSERT INTO {self.s}.integrity_edges VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT DO NOTHING RETURNING true",
            movement, payer, payee, coins, at,
        ))  # fmt: skip

    async def paid_to(self, account: UUID, since: datetime, until: datetime) -> dict[UUID, int]:
        rows = await self.conn.fetch(
            f"SELECT payee, sum(coins) AS coins FROM {self.s}.integrity_edges"
            " WHERE payer = $1 AND occurred_at BETWEEN $2 AND $3 GROUP BY payee",
            account, since, until,
        )  # fmt: skip
        return {r["payee"]: int(r["coins"]) for r in rows}

    async def add_signup(self, account: UUID, at: datetime, origins: dict[str, str]) -> bool:
        return bool(await self.conn.fetchval(
            f"INSERT INTO {self.s}.integrity_signups (account_id, occurred_at, origin_device,"
            " origin_network) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
            account, at, origins.get("device"), origins.get("network"),
        ))  # fmt: skip

    async def signups_from(
        self, by: str, origin: str, since: datetime, until: datetime
    ) -> list[Signup]:
        column = {"device": "origin_device", "network": "origin_network"}[by]
        rows = await self.conn.fetch(
            f"SELECT occurred_at, account_id FROM {self.s}.integrity_signups"
            f" WHERE {column} = $1 AND occurred_at BETWEEN $2 AND $3",
            origin, since, until,
        )  # fmt: skip
        return [Signup(*r.values()) for r in rows]

    async def signups(self, since: datetime, until: datetime) -> int:
        return int(await self.conn.fetchval(
            f"SELECT count(*) FROM {self.s}.integrity_signups"
            " WHERE occurred_at >= $1 AND occurred_at < $2",
            since, until,
        ))  # fmt: skip

    async def add_taps(self, taps: Sequence[tuple[UUID, Tap]]) -> set[UUID]:
        rows = await self.conn.fetch(
            f"INSERT INTO {self.s}.integrity_taps (trip_id, wallet_id, validator_id,"
            " occurred_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[],"
            " $4::timestamptz[]) ON CONFLICT DO NOTHING RETURNING trip_id",
            [t.trip_id for _, t in taps], [w for w, _ in taps],
            [t.validator_id for _, t in taps], [t.at for _, t in taps],
        )  # fmt: skip
        return {r[0] for r in rows}

    async def taps_within(
        self, windows: Sequence[tuple[UUID, datetime, datetime]]
    ) -> list[tuple[UUID, Tap]]:
        rows = await self.conn.fetch(
            f"SELECT DISTINCT t.wallet_id, t.occurred_at, t.validator_id, t.trip_id"
            " FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS w(wallet_id,"
            f" since, until) JOIN {self.s}.integrity_taps AS t ON t.wallet_id = w.wallet_id"
            " AND t.occurred_at BETWEEN w.since AND w.until",
            [w for w, _, _ in windows], [a for _, a, _ in windows], [b for _, _, b in windows],
        )  # fmt: skip
        return [(r[0], Tap(r[1], r[2], r[3])) for r in rows]

    async def keep(self, flag: Flag) -> None:
        await self.conn.execute(
            f"INSERT INTO {self.s}.integrity_flags AS f VALUES"
            " ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $8)"
            # The latest evidence by business time wins (partitions arrive in any order).
            " ON CONFLICT (flag_id) DO UPDATE SET reason = EXCLUDED.reason,"
            " accounts = EXCLUDED.accounts, evidence = EXCLUDED.evidence,"
            " updated_at = EXCLUDED.updated_at WHERE f.updated_at <= EXCLUDED.updated_at",
            flag.flag_id, flag.kind.value, flag.subject, flag.shop_id,
            list(flag.accounts), flag.reason, json.dumps(flag.evidence), flag.at,
        )  # fmt: skip

    async def seen(self, at: datetime) -> None:
        await self.conn.execute(
            f"UPDATE {self.s}.integrity_progress SET committed_at = now(),"
            " business_time = GREATEST(business_time, $1) WHERE id = 1",
            at,
        )


def _flag(row: asyncpg.Record) -> dict[str, Any]:
    flag = dict(row)
    flag["evidence"] = json.loads(flag["evidence"])
    return flag


class IntegrityQueries:
    """What the operator API reads (the pool, outside any consumer transaction)."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.s = schema

    async def flags(
        self,
        *,
        kind: FlagKind | None,
        shop: UUID | None,
        since: datetime | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"SELECT * FROM {self.s}.integrity_flags WHERE ($1::text IS NULL OR kind = $1)"
            " AND ($2::uuid IS NULL OR shop_id = $2)"
            " AND ($3::timestamptz IS NULL OR updated_at >= $3)"
            " ORDER BY updated_at DESC, flag_id LIMIT $4",
            kind.value if kind else None, shop, since, limit,
        )  # fmt: skip
        return [_flag(r) for r in rows]

    async def flag(self, flag_id: UUID) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            f"SELECT * FROM {self.s}.integrity_flags WHERE flag_id = $1", flag_id
        )
        return None if row is None else _flag(row)

    async def counts(self) -> dict[str, int]:
        rows = await self.pool.fetch(
            f"SELECT kind, count(*) AS n FROM {self.s}.integrity_flags GROUP BY kind"
        )
        return {r["kind"]: int(r["n"]) for r in rows}

    async def business_time(self) -> datetime | None:
        value: datetime | None = await self.pool.fetchval(
            f"SELECT business_time FROM {self.s}.integrity_progress WHERE id = 1"
        )
        return value
