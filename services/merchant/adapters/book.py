"""The merchant book: the merchant's own read model, kept from its event log with the log
position stored in the same transaction as the rows (the wallet directory's pattern).

* ``merchant_statement_lines``: one line per finished redemption, void, reward and settlement,
  by shop and Bangkok day: what the daily statements sum up.
* ``merchant_open_operations``: redemptions, rewards and settlements started but not yet
  finished: what the recoverer finishes after a crash.

A shop's closing balance is the sum of its lines' ``balance_change`` up to that day: coins
reach and leave a shop's wallet account only through the merchant (captures, refunds,
rewards from the shop's balance, settlements).
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from kgo_runtime.clock import bangkok_day
from kgo_runtime.postgres import create_tables, follow_log, schema_name

from ..application.service import MerchantApplication
from ..domain.circulation import SHOP_BALANCE, Reward, Settlement
from ..domain.redemption import Redemption

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.merchant_statement_lines (
    position bigint NOT NULL, seq smallint NOT NULL, shop_id uuid NOT NULL, day date NOT NULL,
    kind text NOT NULL, reference uuid NOT NULL, wallet_id uuid, coins bigint NOT NULL,
    balance_change bigint NOT NULL, discount_satang bigint NOT NULL DEFAULT 0,
    bill_satang bigint NOT NULL DEFAULT 0, baht_satang bigint NOT NULL DEFAULT 0,
    at timestamptz NOT NULL, PRIMARY KEY (position, seq));
CREATE INDEX IF NOT EXISTS merchant_statement_lines_shop_day
    ON {s}.merchant_statement_lines (shop_id, day);
CREATE TABLE IF NOT EXISTS {s}.merchant_open_operations (
    operation_id uuid PRIMARY KEY, kind text NOT NULL, started_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.merchant_book_position (
    id integer PRIMARY KEY CHECK (id = 1), position bigint NOT NULL);
INSERT INTO {s}.merchant_book_position VALUES (1, 0) ON CONFLICT DO NOTHING;
"""

STATEMENT_COLUMNS = (
    "shop_id", "day", "redemptions", "coins_accepted", "discount_satang", "bill_satang",
    "voids", "coins_voided", "rewards", "coins_issued", "settlements", "coins_settled",
    "baht_settled_satang", "declined", "closing_balance",
)  # fmt: skip


_TOTALS = ", ".join(f"t.{c}" for c in STATEMENT_COLUMNS[2:-1])


@dataclass
class _Line:
    shop_id: UUID
    kind: str
    reference: UUID
    wallet_id: UUID | None
    coins: int
    balance_change: int
    at: datetime
    discount_satang: int = 0
    bill_satang: int = 0
    baht_satang: int = 0


def _fold(event: Any) -> tuple[_Line | None, tuple[str, UUID, datetime] | None, UUID | None]:
    """An event's statement line, the operation it opens, the operation it closes."""
    rid, at = event.originator_id, getattr(event, "occurred_at", None)
    if isinstance(event, Redemption.Started):
        return None, ("redemption", rid, event.occurred_at), None
    if isinstance(event, Reward.Started):
        return None, ("reward", rid, event.occurred_at), None
    if isinstance(event, Settlement.Started):
        return None, ("settlement", rid, event.occurred_at), None
    if isinstance(event, Redemption.Redeemed | Redemption.Voided):
        sign = 1 if isinstance(event, Redemption.Redeemed) else -1
        kind = "redeemed" if sign > 0 else "voided"
        line = _Line(event.shop_id, kind, rid, event.wallet_id, event.coins, sign * event.coins,
                     event.occurred_at, event.discount_satang, event.bill_satang)  # fmt: skip
        return line, None, rid
    if isinstance(event, Redemption.Declined):
        line = _Line(event.shop_id, "declined", rid, event.wallet_id, 0, 0, event.occurred_at,
                     0, event.bill_satang)  # fmt: skip
        return line, None, rid
    if isinstance(event, Reward.Rewarded):
        change = -event.coins if event.source == SHOP_BALANCE else 0
        line = _Line(event.shop_id, "rewarded", rid, event.wallet_id, event.coins, change,
                     event.occurred_at)  # fmt: skip
        return line, None, rid
    if isinstance(event, Settlement.Settled):
        line = _Line(event.shop_id, "settled", rid, None, event.coins, -event.coins,
                     event.occurred_at, baht_satang=event.baht_satang)  # fmt: skip
        return line, None, rid
    if isinstance(event, Reward.Declined | Settlement.Declined) and at is not None:
        return None, None, rid
    return None, None, None


class MerchantBook:
    """A component (``run``/``stop``) following the merchant's event log."""

    name = "merchant-book"

    def __init__(
        self, application: MerchantApplication, pool: asyncpg.Pool, *, schema: str = "public",
        poll_interval: float = 1.0, batch_size: int = 1000,
    ) -> None:  # fmt: skip
        self._app, self._pool, self._s = application, pool, schema_name(schema)
        self._poll, self._batch = poll_interval, batch_size
        self._stopping, self._stored = asyncio.Event(), asyncio.Event()

    async def create_tables(self) -> None:
        await create_tables(self._pool, _DDL.format(s=self._s))

    async def run(self) -> None:
        self._stopping.clear()
        await self.create_tables()
        await follow_log(
            self._pool,
            self.follow_once,
            channel=getattr(self._app.recorder, "channel_name", None),
            stopping=self._stopping,
            stored=self._stored,
            poll_interval=self._poll,
        )

    async def stop(self) -> None:
        self._stopping.set()
        self._stored.set()

    async def catch_up(self) -> None:
        await self.create_tables()
        while await self.follow_once():
            pass

    async def follow_once(self, conn: asyncpg.Connection | None = None) -> int:
        """Fold the next stored events (on ``conn``, else on one of the pool's)."""
        if conn is None:
            async with self._pool.acquire() as acquired:
                return await self.follow_once(acquired)
        position = await conn.fetchval(
            f"SELECT position FROM {self._s}.merchant_book_position WHERE id = 1"
        )
        notifications = await asyncio.to_thread(
            self._app.recorder.select_notifications, position + 1, self._batch
        )
        if not notifications:
            return 0
        lines: list[tuple[Any, ...]] = []
        opened: list[tuple[UUID, str, datetime]] = []
        closed: list[UUID] = []
        for notification in notifications:
            line, opens, closes = _fold(self._app.mapper.to_domain_event(notification))
            if line is not None:
                lines.append((
                    notification.id, 0, line.shop_id, date.fromisoformat(bangkok_day(line.at)),
                    line.kind, line.reference, line.wallet_id, line.coins, line.balance_change,
                    line.discount_satang, line.bill_satang, line.baht_satang, line.at,
                ))  # fmt: skip
            if opens is not None:
                opened.append((opens[1], opens[0], opens[2]))
            if closes is not None:
                closed.append(closes)
        async with conn.transaction():
            moved = await conn.execute(
                f"UPDATE {self._s}.merchant_book_position SET position = $2 "
                "WHERE id = 1 AND position = $1",
                position, notifications[-1].id,
            )  # fmt: skip
            if moved != "UPDATE 1":
                return len(notifications)  # another follower got there first
            if lines:
                await conn.copy_records_to_table(
                    "merchant_statement_lines", schema_name=self._s, records=lines
                )
            if opened:
                await conn.executemany(
                    f"INSERT INTO {self._s}.merchant_open_operations VALUES ($1, $2, $3) "
                    "ON CONFLICT DO NOTHING",
                    opened,
                )
            if closed:
                await conn.execute(
                    f"DELETE FROM {self._s}.merchant_open_operations "
                    "WHERE operation_id = ANY($1::uuid[])",
                    closed,
                )
        return len(notifications)

    async def open_operations(self, started_before: datetime) -> list[tuple[str, UUID]]:
        rows = await self._pool.fetch(
            f"SELECT kind, operation_id FROM {self._s}.merchant_open_operations "
            "WHERE started_at < $1 ORDER BY started_at LIMIT 500",
            started_before,
        )
        return [(row["kind"], row["operation_id"]) for row in rows]

    async def statements(self, shop_id: UUID, first: date, last: date) -> list[dict[str, Any]]:
        """One row per Bangkok day from ``first`` to ``last`` (days without lines included)."""
        rows = await self._pool.fetch(
            f"""
            WITH days AS (SELECT generate_series($2::date, $3::date, '1 day')::date AS day),
            totals AS (
              SELECT day,
                count(*) FILTER (WHERE kind = 'redeemed') AS redemptions,
                coalesce(sum(coins) FILTER (WHERE kind = 'redeemed'), 0) AS coins_accepted,
                coalesce(sum(discount_satang) FILTER (WHERE kind = 'redeemed'), 0)
                  - coalesce(sum(discount_satang) FILTER (WHERE kind = 'voided'), 0)
                  AS discount_satang,
                coalesce(sum(bill_satang) FILTER (WHERE kind = 'redeemed'), 0) AS bill_satang,
                count(*) FILTER (WHERE kind = 'voided') AS voids,
                coalesce(sum(coins) FILTER (WHERE kind = 'voided'), 0) AS coins_voided,
                count(*) FILTER (WHERE kind = 'rewarded') AS rewards,
                coalesce(sum(coins) FILTER (WHERE kind = 'rewarded'), 0) AS coins_issued,
                count(*) FILTER (WHERE kind = 'settled') AS settlements,
                coalesce(sum(coins) FILTER (WHERE kind = 'settled'), 0) AS coins_settled,
                coalesce(sum(baht_satang), 0) AS baht_settled_satang,
                count(*) FILTER (WHERE kind = 'declined') AS declined
              FROM {self._s}.merchant_statement_lines
              WHERE shop_id = $1 AND day BETWEEN $2 AND $3 GROUP BY day)
            SELECT d.day, {_TOTALS}, (SELECT coalesce(sum(balance_change), 0)
                FROM {self._s}.merchant_statement_lines l
                WHERE l.shop_id = $1 AND l.day <= d.day) AS closing_balance
            FROM days d LEFT JOIN totals t USING (day) ORDER BY d.day
            """,
            shop_id, first, last,
        )  # fmt: skip
        return [
            {
                column: (
                    str(shop_id) if column == "shop_id"
                    else row["day"].isoformat() if column == "day"
                    else int(row[column] or 0)
                )
                for column in STATEMENT_COLUMNS
            }
            for row in rows
        ]  # fmt: skip


def statement_csv(rows: list[dict[str, Any]]) -> str:
    """Statements as CSV, one header line then one line per day."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=STATEMENT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
