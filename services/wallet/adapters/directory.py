"""The wallet directory: the wallet's own read model of its accounts and open holds, kept
from its event log with the log position stored in the same transaction as the rows.

It answers what the aggregates cannot answer cheaply — every budget, the supply in
circulation, the holds that are due to expire — and it is never written anywhere else.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import TopicError, resolve_topic

from kgo_runtime.postgres import create_tables, follow_log, schema_name

from ..application.ledger import WalletLedger
from ..domain.account import Account
from .contracts import stores_plain_json

_DDL = """
CREATE TABLE IF NOT EXISTS {s}.wallet_accounts (
    account_id uuid PRIMARY KEY, kind text NOT NULL, programme text, label text,
    external_ref text, available bigint NOT NULL, held bigint NOT NULL,
    version integer NOT NULL, opened_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS wallet_accounts_kind ON {s}.wallet_accounts (kind);
CREATE TABLE IF NOT EXISTS {s}.wallet_open_holds (
    hold_id uuid PRIMARY KEY, account_id uuid NOT NULL, payee_account_id uuid NOT NULL,
    amount bigint NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS wallet_open_holds_expiry ON {s}.wallet_open_holds (expires_at);
CREATE TABLE IF NOT EXISTS {s}.wallet_directory_position (
    id integer PRIMARY KEY CHECK (id = 1), position bigint NOT NULL, minted bigint NOT NULL);
INSERT INTO {s}.wallet_directory_position VALUES (1, 0, 0) ON CONFLICT DO NOTHING;
"""


class WalletDirectory:
    """A component (``run``/``stop``) and the wallet's AccountDirectory."""

    name = "wallet-directory"

    def __init__(
        self,
        ledger: WalletLedger,
        pool: asyncpg.Pool,
        *,
        schema: str = "public",
        poll_interval: float = 1.0,
        batch_size: int = 1000,
    ) -> None:
        self._ledger = ledger
        self._pool = pool
        self._s = schema_name(schema)
        self._poll = poll_interval
        self._batch = batch_size
        self._stopping = asyncio.Event()
        self._stored = asyncio.Event()
        self._reader = _Reader(ledger.mapper)
        #: Where the tables are, as this follower last moved them (None: read it first).
        self._position: int | None = None
        #: True when the last fold read fewer events than a full batch. Only then do the
        #: tables hold whole transactions (a full batch may end inside one), so only then
        #: is the supply check meaningful.
        self.caught_up = False

    async def create_tables(self) -> None:
        await create_tables(self._pool, _DDL.format(s=self._s))

    async def run(self) -> None:
        """Fold new events as they are stored: woken by the event store's NOTIFY, and every
        ``poll_interval`` seconds in case a notification was missed."""
        self._stopping.clear()
        await self.create_tables()
        self._position = None
        await follow_log(
            self._pool,
            self.follow_once,
            channel=getattr(self._ledger.recorder, "channel_name", None),
            stopping=self._stopping,
            stored=self._stored,
            poll_interval=self._poll,
        )

    async def stop(self) -> None:
        self._stopping.set()
        self._stored.set()

    async def catch_up(self) -> None:
        """Fold everything stored so far (tools and tests)."""
        await self.create_tables()
        while await self.follow_once():
            pass

    async def follow_once(self, conn: asyncpg.Connection | None = None) -> int:
        """Fold the next stored events into the tables (on ``conn``, else on a connection of
        the pool); returns how many were read."""
        if conn is None:
            async with self._pool.acquire() as acquired:
                return await self.follow_once(acquired)
        position = self._position
        if position is None:
            position = await conn.fetchval(
                f"SELECT position FROM {self._s}.wallet_directory_position WHERE id = 1"
            )
        notifications = await asyncio.to_thread(
            self._ledger.recorder.select_notifications, position + 1, self._batch
        )
        self.caught_up = len(notifications) < self._batch
        if not notifications:
            self._position = position
            return 0
        changes = _Changes()
        for notification in notifications:
            self._reader.fold(notification, changes)
        # The position kept in memory is only a guess: the update below moves it only from
        # where this follower last saw it, so another follower's progress (several processes
        # of one service) fails the update and the position is read again next time.
        self._position = None
        async with conn.transaction():
            moved = await conn.execute(
                f"UPDATE {self._s}.wallet_directory_position SET position = $2, "
                "minted = minted + $3 WHERE id = 1 AND position = $1",
                position,
                notifications[-1].id,
                changes.minted,
            )
            if moved != "UPDATE 1":  # another follower got there first: nothing to do
                return len(notifications)
            await changes.write(conn, self._s)
        self._position = notifications[-1].id
        return len(notifications)

    # --- queries ----------------------------------------------------------------------------

    async def budgets(self) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT * FROM {self._s}.wallet_accounts WHERE kind = 'budget' ORDER BY programme"
        )
        return [_account_row(r) for r in rows]

    async def supply(self) -> dict[str, Any]:
        row = await self._pool.fetchrow(
            f"SELECT p.minted, p.position, coalesce(sum(a.available + a.held), 0) AS total, "
            f"count(a.*) AS accounts FROM {self._s}.wallet_directory_position p "
            f"LEFT JOIN {self._s}.wallet_accounts a ON true WHERE p.id = 1 "
            "GROUP BY p.minted, p.position"
        )
        minted, total = int(row["minted"]), int(row["total"])
        return {
            "minted": minted,
            "in_accounts": total,
            "conserved": minted == total,
            "accounts": int(row["accounts"]),
            "log_position": int(row["position"]),
        }

    async def due_holds(self, now: datetime, limit: int = 500) -> list[tuple[UUID, UUID]]:
        """(wallet id, hold id) of open holds whose expiry has passed."""
        rows = await self._pool.fetch(
            f"SELECT account_id, hold_id FROM {self._s}.wallet_open_holds "
            "WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2",
            now,
            limit,
        )
        # asyncpg's own UUID type is not the standard one the event store can encode
        return [(UUID(str(r["account_id"])), UUID(str(r["hold_id"]))) for r in rows]


def _account_row(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "account_id": str(row["account_id"]),
        "kind": row["kind"],
        "programme": row["programme"],
        "label": row["label"],
        "available": row["available"],
        "held": row["held"],
    }


def _text(value: str | None) -> str | None:
    """Postgres text cannot hold NUL; a read model must never stall on a stored event."""
    return value.replace("\x00", "\ufffd") if value else value


class _Reader:
    """Stored events into :class:`_Changes`, decoding only what the directory folds.

    Of the wallet's log, only account openings and entries change the directory; receipts,
    identity claims, instruments and refusals (a third of the log and more) are skipped by
    their topic without being decoded. An entry that only moves a balance (no hold, no
    supply) is read from its stored JSON for the two balances it states, where the mapper
    would first build the whole domain event; anything else, or any entry whose JSON is not
    as expected, is decoded by the mapper as before."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self._mapper = mapper
        self._plain = stores_plain_json(mapper)
        self._kinds: dict[str, str] = {}

    def fold(self, notification: Notification, changes: _Changes) -> None:
        kind = self._kinds.get(notification.topic)
        if kind is None:
            kind = self._kinds[notification.topic] = self._kind(notification.topic)
        if kind == _SKIP:
            return
        if kind == _BALANCE:
            try:
                state = orjson.loads(notification.state)
            except orjson.JSONDecodeError:
                state = None
            if type(state) is dict:
                available, held = state.get("available_after"), state.get("held_after")
                if type(available) is int and type(held) is int:
                    changes.balance(
                        notification.originator_id,
                        available,
                        held,
                        notification.originator_version,
                    )
                    return
        changes.fold(self._mapper.to_domain_event(notification))

    def _kind(self, topic: str) -> str:
        try:
            cls = resolve_topic(topic)
        except TopicError:
            return _DECODE  # the mapper says what it cannot decode, as it always did
        if not isinstance(cls, type) or not issubclass(cls, (Account.Opened, Account.Entry)):
            return _SKIP if isinstance(cls, type) and issubclass(cls, DomainEvent) else _DECODE
        if (
            self._plain
            and issubclass(cls, Account.Entry)
            and not issubclass(cls, _FOLDED_WHOLE)
            and getattr(cls, "class_version", 1) == 1
        ):
            return _BALANCE
        return _DECODE


_SKIP, _BALANCE, _DECODE = "skip", "balance", "decode"
#: Entries the directory reads more of than their balances (see :meth:`_Changes.fold`).
_FOLDED_WHOLE = (Account.SupplyMinted, Account.CoinsHeld, Account.HoldSettled)


class _Changes:
    """What a run of stored events does to the directory's rows."""

    def __init__(self) -> None:
        self.opened: dict[UUID, tuple[Any, ...]] = {}
        self.balances: dict[UUID, tuple[int, int, int]] = {}
        self.holds: dict[UUID, tuple[Any, ...] | None] = {}
        self.hold_amounts: dict[UUID, int] = {}
        self.minted = 0

    def fold(self, event: Any) -> None:
        if isinstance(event, Account.Opened):
            self.opened[event.originator_id] = (
                event.originator_id,
                event.kind,
                _text(event.programme),
                _text(event.label),
                _text(event.external_ref),
                event.occurred_at,
            )
        if isinstance(event, Account.Entry):
            self.balance(
                event.originator_id,
                event.available_after,
                event.held_after,
                event.originator_version,
            )
        if isinstance(event, Account.SupplyMinted):
            self.minted += event.amount
        if isinstance(event, Account.CoinsHeld):
            self.holds[event.hold_id] = (
                event.hold_id,
                event.originator_id,
                event.payee_account_id,
                event.amount,
                event.expires_at,
            )
        elif isinstance(event, Account.HoldSettled):
            self.hold_amounts[event.hold_id] = (
                self.hold_amounts.get(event.hold_id, 0) + event.amount
            )

    def balance(self, account_id: UUID, available: int, held: int, version: int) -> None:
        self.balances[account_id] = (available, held, version)

    async def write(self, conn: asyncpg.Connection, s: str) -> None:
        if self.opened:
            await conn.executemany(
                f"INSERT INTO {s}.wallet_accounts VALUES ($1, $2, $3, $4, $5, 0, 0, 1, $6) "
                "ON CONFLICT DO NOTHING",
                list(self.opened.values()),
            )
        if self.balances:
            await conn.executemany(
                f"UPDATE {s}.wallet_accounts SET available = $2, held = $3, version = $4 "
                "WHERE account_id = $1 AND version < $4",
                [(k, *v) for k, v in self.balances.items()],
            )
        new_holds = [v for v in self.holds.values() if v is not None]
        if new_holds:
            await conn.executemany(
                f"INSERT INTO {s}.wallet_open_holds VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT DO NOTHING",
                new_holds,
            )
        if self.hold_amounts:
            await conn.executemany(
                f"UPDATE {s}.wallet_open_holds SET amount = amount - $2 WHERE hold_id = $1",
                list(self.hold_amounts.items()),
            )
            await conn.execute(f"DELETE FROM {s}.wallet_open_holds WHERE amount <= 0")
