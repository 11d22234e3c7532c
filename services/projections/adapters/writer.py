"""Writes one batch's :class:`~services.projections.domain.changes.Changes` into the read
models' tables, one set-based statement per table (``unnest`` of column arrays), inside the
consumer's transaction. Only the tables of the chosen read models are written (a replay of
one model rebuilds only its own)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.projections.domain.changes import DAILY_FIELDS, Changes

Row = tuple[Any, ...]


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


class ReadModelWriter:
    def __init__(self, schema: str, models: Iterable[str]) -> None:
        self.schema = schema
        self.models = set(models)

    async def _insert(
        self,
        conn: asyncpg.Connection,
        table: str,
        columns: str,
        types: str,
        rows: Sequence[tuple[Any, ...]],
        conflict: str = "DO NOTHING",
    ) -> None:
        if not rows:
            return
        kinds = [t.strip() for t in types.split(",")]
        arrays = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(kinds))
        await conn.execute(
            f"INSERT INTO {self.schema}.{table} AS t ({columns})"
            f" SELECT * FROM unnest({arrays}) ON CONFLICT {conflict}",
            *_columns(rows, len(kinds)),
        )

    async def write(self, conn: asyncpg.Connection, c: Changes) -> None:
        s = self.schema
        if "ledger" in self.models:
            await self._ledger(conn, c)
        if "daily_totals" in self.models and c.daily:
            # Sorted keys: two transactions updating the same rows lock them in one order.
            rows = [(day, programme, *sums) for (day, programme), sums in sorted(c.daily.items())]
            sets = ", ".join(f"{f} = t.{f} + EXCLUDED.{f}" for f in DAILY_FIELDS)
            await self._insert(
                conn, "daily_totals", "day, programme, " + ", ".join(DAILY_FIELDS),
                "date, text, bigint, bigint, bigint, bigint, bigint, bigint", rows,
                f"(day, programme) DO UPDATE SET {sets}",
            )  # fmt: skip
        if "missions" in self.models:
            await self._insert(
                conn, "grants",
                "movement_id, wallet_id, programme, reason, reference, amount, occurred_at",
                "uuid, uuid, text, text, text, bigint, timestamptz", c.grants,
            )  # fmt: skip
            await self._insert(
                conn, "completions",
                "completion_id, wallet_id, mission_id, programme, campaign, reward, requested,"
                " capped, occurred_at",
                "uuid, uuid, uuid, text, text, bigint, bigint, boolean, timestamptz",
                c.completions,
            )  # fmt: skip
            await self._insert(
                conn, "missions",
                "mission_id, revision, code, title, campaign, programme, reward, rule,"
                " published_at",
                "uuid, int, text, text, text, text, bigint, text, timestamptz",
                sorted(c.missions.values()),
                "(mission_id) DO UPDATE SET revision = EXCLUDED.revision, code = EXCLUDED.code,"
                " title = EXCLUDED.title, campaign = EXCLUDED.campaign,"
                " programme = EXCLUDED.programme, reward = EXCLUDED.reward,"
                " rule = EXCLUDED.rule WHERE t.revision < EXCLUDED.revision",
            )  # fmt: skip
            if c.retired:
                await self._update(
                    conn,
                    f"UPDATE {s}.missions SET retired_at = $2 WHERE mission_id = $1",
                    c.retired,
                )
            await self._insert(
                conn, "activities", "activity_id, mission_id, code, title, starts_at",
                "uuid, uuid, text, text, timestamptz", c.activities,
            )  # fmt: skip
            await self._insert(
                conn, "check_ins", "check_in_id, activity_id, wallet_id, occurred_at",
                "uuid, uuid, uuid, timestamptz", c.check_ins,
            )  # fmt: skip
        if "redemptions" in self.models:
            await self._insert(
                conn, "shops",
                "shop_id, payee_account_id, label, category, district, size_class, enrolled_at",
                "uuid, uuid, text, text, text, text, timestamptz", c.shops,
            )  # fmt: skip
            if c.shop_status:
                await self._update(
                    conn,
                    f"UPDATE {s}.shops SET suspended = $2 WHERE shop_id = $1",
                    [(shop, suspended) for shop, suspended, _ in c.shop_status],
                )
            await self._insert(
                conn, "redemptions",
                "redemption_id, shop_id, wallet_id, coins, discount_satang, bill_satang,"
                " occurred_at",
                "uuid, uuid, uuid, bigint, bigint, bigint, timestamptz", c.redemptions,
            )  # fmt: skip
            if c.voids:
                await self._update(
                    conn, f"UPDATE {s}.redemptions SET voided_at = $2 WHERE redemption_id = $1",
                    c.voids,
                )  # fmt: skip
        if "ridership" in self.models:
            await self._insert(
                conn, "fares",
                "trip_id, wallet_id, route_id, fare_product, coins, baht_satang, campaign,"
                " offline, occurred_at",
                "uuid, uuid, text, text, bigint, bigint, text, boolean, timestamptz", c.fares,
            )  # fmt: skip
            await self._insert(
                conn, "campaigns", "campaign_id, starts_at, ends_at, coins, baht_satang, programme",
                "text, timestamptz, timestamptz, bigint, bigint, text",
                sorted(c.campaigns.values()),
                "(campaign_id) DO UPDATE SET starts_at = EXCLUDED.starts_at,"
                " ends_at = EXCLUDED.ends_at, coins = EXCLUDED.coins,"
                " baht_satang = EXCLUDED.baht_satang, programme = EXCLUDED.programme",
            )  # fmt: skip
        if "active_residents" in self.models:
            await self._insert(
                conn, "active_days", "wallet_id, day", "uuid, date",
                sorted(c.active_days, key=lambda row: (row[1], row[0])),
                "(day, wallet_id) DO NOTHING",
            )  # fmt: skip
        if "fairness" in self.models and c.resident_weeks:
            weeks = sorted(c.resident_weeks.items(), key=lambda kv: (kv[0][1], kv[0][0]))
            rows = [(w, week, r, sp) for (w, week), (r, sp) in weeks]
            await self._insert(
                conn, "resident_weeks", "wallet_id, week, received, spent",
                "uuid, date, bigint, bigint", rows,
                "(week, wallet_id) DO UPDATE SET received = t.received + EXCLUDED.received,"
                " spent = t.spent + EXCLUDED.spent",
            )  # fmt: skip
        if c.latest is not None:
            await self._progress(conn, c.latest)

    async def _update(
        self, conn: asyncpg.Connection, sql: str, rows: list[tuple[Any, ...]]
    ) -> None:
        await conn.executemany(sql, rows)

    async def _progress(self, conn: asyncpg.Connection, latest: datetime) -> None:
        await conn.execute(
            f"UPDATE {self.schema}.progress SET committed_at = now(),"
            " business_time = GREATEST(business_time, $1) WHERE id = 1",
            latest,
        )

    async def _ledger(self, conn: asyncpg.Connection, c: Changes) -> None:
        await self._insert(
            conn, "accounts", "account_id, kind, programme, label, external_ref, opened_at",
            "uuid, text, text, text, text, timestamptz", c.accounts,
        )  # fmt: skip
        if c.entries:
            await self._entries(conn, c)
        if c.flows:
            rows = [
                (day, kind, net, spent) for (day, kind), (net, spent) in sorted(c.flows.items())
            ]
            await self._insert(
                conn, "flows_daily", "day, kind, net, spent", "date, text, bigint, bigint", rows,
                "(day, kind) DO UPDATE SET net = t.net + EXCLUDED.net,"
                " spent = t.spent + EXCLUDED.spent",
            )  # fmt: skip

    async def _entries(self, conn: asyncpg.Connection, c: Changes) -> None:
        # Balances move only by the entries this statement inserted: an entry seen
        # before (same account and version) changes nothing.
        ctes = ", ".join(f"{name} AS ({sql})" for name, sql in _entries_ctes(self.schema, 1))
        await conn.execute(f"WITH {ctes} SELECT 1", *_columns(c.entries, 10))


#: The entries' columns, in the order of the writers' rows (:attr:`Changes.entries`).
ENTRIES = (
    "account_id, account_version, occurred_at, type, amount, d_available, d_held,"
    " available_after, held_after, movement_id"
)
BALANCES = "account_id, available, held, version, wallet_available, wallet_held, updated_at"
#: A balance row met again (as ``t``): the deltas add up, the wallet's own figures are those
#: of the latest account version.
BALANCES_CONFLICT = (
    "(account_id) DO UPDATE SET available = t.available + EXCLUDED.available,"
    " held = t.held + EXCLUDED.held, version = GREATEST(t.version, EXCLUDED.version),"
    " wallet_available = CASE WHEN EXCLUDED.version > t.version"
    " THEN EXCLUDED.wallet_available ELSE t.wallet_available END,"
    " wallet_held = CASE WHEN EXCLUDED.version > t.version"
    " THEN EXCLUDED.wallet_held ELSE t.wallet_held END,"
    " updated_at = GREATEST(t.updated_at, EXCLUDED.updated_at)"
)


def balances_moved(s: str, entries: str) -> list[tuple[str, str]]:
    """The balances moved by the entries an ``INSERT ... RETURNING *`` CTE named ``ins``
    inserted, as named CTEs after it; ``entries``: that insert (``ON CONFLICT DO NOTHING``:
    an entry seen before, same account and version, moves nothing). The writers and the SQL
    fold (:mod:`services.projections.adapters.sql_fold`) share it."""
    return [
        ("ins", entries),
        ("agg", "SELECT account_id, sum(d_available) AS da, sum(d_held) AS dh,"
         " max(occurred_at) AS at FROM ins GROUP BY account_id"),
        ("last", "SELECT DISTINCT ON (account_id) account_id, account_version,"
         " available_after, held_after FROM ins ORDER BY account_id, account_version DESC"),
        ("bal", f"INSERT INTO {s}.balances AS t ({BALANCES})"
         " SELECT agg.account_id, da, dh, account_version, available_after, held_after,"
         " at FROM agg JOIN last USING (account_id) ORDER BY agg.account_id"
         f" ON CONFLICT {BALANCES_CONFLICT}"),
    ]  # fmt: skip


def _entries_ctes(s: str, first: int) -> list[tuple[str, str]]:
    """The entries insert and the balances it moves, as named CTEs (parameters ``$first``
    to ``$first+9``: the entries' columns)."""
    p = [f"${first + i}" for i in range(10)]
    return balances_moved(s, (
        f"INSERT INTO {s}.entries ({ENTRIES}) SELECT * FROM unnest({p[0]}::uuid[],"
        f" {p[1]}::int[], {p[2]}::timestamptz[], {p[3]}::text[], {p[4]}::bigint[],"
        f" {p[5]}::bigint[], {p[6]}::bigint[], {p[7]}::bigint[], {p[8]}::bigint[],"
        f" {p[9]}::uuid[]) ON CONFLICT DO NOTHING RETURNING *"
    ))  # fmt: skip


class OneStatementWriter(ReadModelWriter):
    """The same rows as :class:`ReadModelWriter`, sent as ONE statement (each table's insert
    a data-modifying CTE, in the same order) and then the batch's few updates (retired
    missions, shop status, voids: rows an insert of the same batch may have made, which a
    CTE of the same statement would not see). A small batch (a live consumer keeping up)
    costs two or three round trips instead of one per table. Each call collects into its
    own :class:`_Collected` (batches of several partitions are written side by side)."""

    async def write(self, conn: asyncpg.Connection, c: Changes) -> None:
        collected = _Collected(self.schema, self.models)
        await ReadModelWriter.write(collected, conn, c)
        if collected.ctes:
            ctes = ", ".join(f"{name} AS ({sql})" for name, sql in collected.ctes)
            await conn.execute(f"WITH {ctes} SELECT 1", *collected.args)
        for sql, rows in collected.updates:
            await conn.executemany(sql, rows)


class _Collected(ReadModelWriter):
    """One batch's statements, collected instead of sent."""

    def __init__(self, schema: str, models: Iterable[str]) -> None:
        super().__init__(schema, models)
        self.ctes: list[tuple[str, str]] = []
        self.args: list[Any] = []
        self.updates: list[tuple[str, list[Row]]] = []

    def _add(self, name: str, sql: str, args: list[Any]) -> None:
        self.ctes.append((f"{name}_{len(self.ctes)}", sql))
        self.args += args

    async def _insert(
        self,
        conn: asyncpg.Connection,
        table: str,
        columns: str,
        types: str,
        rows: Sequence[tuple[Any, ...]],
        conflict: str = "DO NOTHING",
    ) -> None:
        if not rows:
            return
        kinds = [t.strip() for t in types.split(",")]
        first = len(self.args) + 1
        arrays = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(kinds))
        self._add(table, f"INSERT INTO {self.schema}.{table} AS t ({columns})"
                  f" SELECT * FROM unnest({arrays}) ON CONFLICT {conflict}",
                  _columns(rows, len(kinds)))  # fmt: skip

    async def _entries(self, conn: asyncpg.Connection, c: Changes) -> None:
        self.ctes += _entries_ctes(self.schema, len(self.args) + 1)
        self.args += _columns(c.entries, 10)

    async def _update(self, conn: asyncpg.Connection, sql: str, rows: list[Row]) -> None:
        self.updates.append((sql, rows))

    async def _progress(self, conn: asyncpg.Connection, latest: datetime) -> None:
        first = len(self.args) + 1
        self._add("progress", f"UPDATE {self.schema}.progress SET committed_at = now(),"
                  f" business_time = GREATEST(business_time, ${first}::timestamptz)"
                  " WHERE id = 1", [latest])  # fmt: skip
