"""Ridership statements kept in PostgreSQL from transit's own event log, with the log
position stored in the same transaction as the rows (the merchant book's pattern): a
restart answers at once from the tables and folds only what was stored since.

* ``transit_ridership``: per route, Bangkok day and hour: rides, coin rides, coins, baht,
  the loss budget's cover, offline rides;
* ``transit_ridership_declines``: the declines of each row, by reason;
* ``transit_pending_trips``: trips whose coins were asked and whose answer is not recorded.

The rule of the fold is :func:`~services.transit.application.ridership.effect_of`, shared
with the in-memory keeper the unit tests read.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from kgo_runtime.postgres import create_tables, schema_name

from ..application.ridership import Effect, Row, RowKey, effect_of
from ..application.service import TransitApplication

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.transit_ridership (
    route_id text NOT NULL, day date NOT NULL, hour smallint NOT NULL,
    rides bigint NOT NULL, coin_rides bigint NOT NULL, coins bigint NOT NULL,
    baht_satang bigint NOT NULL, shortfall_covered bigint NOT NULL, offline_rides bigint NOT NULL,
    PRIMARY KEY (route_id, day, hour));
CREATE TABLE IF NOT EXISTS {s}.transit_ridership_declines (
    route_id text NOT NULL, day date NOT NULL, hour smallint NOT NULL, reason text NOT NULL,
    declines bigint NOT NULL, PRIMARY KEY (route_id, day, hour, reason));
CREATE TABLE IF NOT EXISTS {s}.transit_pending_trips (trip_id uuid PRIMARY KEY);
CREATE TABLE IF NOT EXISTS {s}.transit_ridership_position (
    id integer PRIMARY KEY CHECK (id = 1), position bigint NOT NULL);
INSERT INTO {s}.transit_ridership_position VALUES (1, 0) ON CONFLICT DO NOTHING;
"""

_COUNTERS = ("rides", "coin_rides", "coins", "baht_satang", "shortfall_covered", "offline_rides")


def _sums(effects: list[Effect]) -> tuple[dict[RowKey, Row], set[UUID], set[UUID]]:
    """The rows' increments of a section of the log, and the trips it starts and stops
    waiting for (a trip asked and decided within the section is neither)."""
    rows: dict[RowKey, Row] = {}
    asked: set[UUID] = set()
    decided: set[UUID] = set()
    for effect in effects:
        if effect.asked:
            asked.add(effect.trip_id)
            continue
        if effect.trip_id in asked:
            asked.discard(effect.trip_id)
        else:
            decided.add(effect.trip_id)
        if effect.key is not None:
            rows.setdefault(effect.key, Row(*effect.key)).add(effect)
    return rows, asked, decided


class RidershipBook:
    """A component (``run``/``stop``) following transit's event log."""

    name = "transit-ridership"

    def __init__(
        self,
        store: TransitApplication,
        pool: asyncpg.Pool,
        *,
        schema: str = "public",
        poll_interval: float = 1.0,
        batch_size: int = 1000,
    ) -> None:
        self._store, self._pool, self._s = store, pool, schema_name(schema)
        self._poll, self._batch = poll_interval, batch_size
        self._stopping = asyncio.Event()

    async def create_tables(self) -> None:
        await create_tables(self._pool, _DDL.format(s=self._s))

    async def run(self) -> None:
        self._stopping.clear()
        await self.create_tables()
        while not self._stopping.is_set():
            if not await self.follow_once():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._poll)

    async def stop(self) -> None:
        self._stopping.set()

    async def catch_up(self) -> None:
        while await self.follow_once():
            pass

    async def follow_once(self) -> int:
        """Fold the next section of the log; how many stored events it read."""
        position = await self._pool.fetchval(
            f"SELECT position FROM {self._s}.transit_ridership_position WHERE id = 1"
        )
        notifications = await asyncio.to_thread(
            self._store.recorder.select_notifications, position + 1, self._batch
        )
        if not notifications:
            return 0
        effects = [
            effect
            for n in notifications
            if (effect := effect_of(self._store.mapper.to_domain_event(n))) is not None
        ]
        rows, asked, decided = _sums(effects)
        async with self._pool.acquire() as conn, conn.transaction():
            moved = await conn.execute(
                f"UPDATE {self._s}.transit_ridership_position SET position = $2 "
                "WHERE id = 1 AND position = $1",
                position,
                notifications[-1].id,
            )
            if moved != "UPDATE 1":
                return len(notifications)  # another process folded this section first
            await self._apply(conn, rows, asked, decided)
        return len(notifications)

    async def _apply(
        self, conn: asyncpg.Connection, rows: dict[RowKey, Row], asked: set[UUID], done: set[UUID]
    ) -> None:
        added = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in _COUNTERS)
        await conn.executemany(
            f"INSERT INTO {self._s}.transit_ridership AS r VALUES ($1, $2, $3, $4, $5, $6, $7, "
            f"$8, $9) ON CONFLICT (route_id, day, hour) DO UPDATE SET {added}",
            [
                (
                    *_key(row),
                    row.rides,
                    row.coin_rides,
                    row.coins,
                    row.baht_satang,
                    row.shortfall_covered,
                    row.offline,
                )
                for row in rows.values()
            ],
        )
        await conn.executemany(
            f"INSERT INTO {self._s}.transit_ridership_declines AS d VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (route_id, day, hour, reason) DO UPDATE "
            "SET declines = d.declines + EXCLUDED.declines",
            [
                (*_key(row), reason, count)
                for row in rows.values()
                for reason, count in row.declines.items()
            ],
        )
        if asked:
            await conn.execute(
                f"INSERT INTO {self._s}.transit_pending_trips "
                "SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING",
                list(asked),
            )
        if done:
            await conn.execute(
                f"DELETE FROM {self._s}.transit_pending_trips WHERE trip_id = ANY($1::uuid[])",
                list(done),
            )

    # --- the statements port the HTTP API reads -------------------------------------------

    async def read(
        self, *, route_id: str | None = None, first: date | None = None, last: date | None = None
    ) -> list[dict[str, Any]]:
        await self.catch_up()
        found = await self._pool.fetch(
            f"""
            SELECT r.*, d.reason, d.declines FROM {self._s}.transit_ridership r
            LEFT JOIN {self._s}.transit_ridership_declines d USING (route_id, day, hour)
            WHERE ($1::text IS NULL OR r.route_id = $1)
              AND ($2::date IS NULL OR r.day >= $2) AND ($3::date IS NULL OR r.day <= $3)
            ORDER BY r.route_id, r.day, r.hour, d.reason
            """,
            route_id,
            first,
            last,
        )
        rows: dict[RowKey, Row] = {}
        for record in found:
            key = (record["route_id"], record["day"].isoformat(), record["hour"])
            if key not in rows:
                rows[key] = Row(
                    *key,
                    rides=int(record["rides"]),
                    coin_rides=int(record["coin_rides"]),
                    coins=int(record["coins"]),
                    baht_satang=int(record["baht_satang"]),
                    shortfall_covered=int(record["shortfall_covered"]),
                    offline=int(record["offline_rides"]),
                )
            if record["reason"] is not None:
                rows[key].declines[record["reason"]] = int(record["declines"])
        return [row.answer() for row in rows.values()]

    async def pending_trips(self) -> int:
        await self.catch_up()
        count = await self._pool.fetchval(f"SELECT count(*) FROM {self._s}.transit_pending_trips")
        return int(count)


def _key(row: Row) -> tuple[str, date, int]:
    return row.route_id, date.fromisoformat(row.day), row.hour
