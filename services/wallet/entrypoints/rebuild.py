"""`kgo wallet rebuild`: every balance recomputed from kgo.wallet.events alone, compared with
the wallet's own event store; prints the differences and fails if there are any."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from uuid import UUID

import asyncpg
from eventsourcing.application import AggregateNotFoundError

from kgo_contracts import topics
from kgo_runtime.postgres import schema_name

from ..adapters.event_store import open_ledger
from ..adapters.topic_reader import read_topic
from ..application.ledger import WalletLedger
from ..application.rebuild import Difference, Rebuild
from ..domain.account import Account
from ..settings import WalletSettings

RELAY_NAME = "wallet"


def account_ids(ledger: WalletLedger) -> list[UUID]:
    """Every account the event store has opened, from its notification log."""
    ids: list[UUID] = []
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, 1000, topics=[Account.Opened.TOPIC])
        ids.extend(n.originator_id for n in page)
        if len(page) < 1000:
            return ids
        start = page[-1].id + 1


def loader(ledger: WalletLedger) -> Callable[[UUID, int | None], Account | None]:
    def load(account_id: UUID, version: int | None) -> Account | None:
        try:
            account = ledger.repository.get(account_id, version=version)
        except AggregateNotFoundError:
            return None
        return account if isinstance(account, Account) else None

    return load


async def wait_for_relay(settings: WalletSettings, ledger: WalletLedger, seconds: float) -> str:
    """Wait until the relay has published everything stored so far; returns a status line."""
    target = await asyncio.to_thread(ledger.recorder.max_notification_id) or 0
    table = f"{schema_name(settings.database_schema)}.relay_positions"
    conn = await asyncpg.connect(settings.database_url)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                position = (
                    await conn.fetchval(
                        f"SELECT position FROM {table} WHERE relay_name = $1", RELAY_NAME
                    )
                    or 0
                )
            except asyncpg.UndefinedTableError:
                position = 0
            if position >= target or time.monotonic() >= deadline:
                return f"relay at {position} of {target} stored events"
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def rebuild(
    settings: WalletSettings,
    *,
    topic: str = topics.WALLET,
    wait_seconds: float = 30.0,
    echo: Callable[[str], None] = print,
) -> list[Difference]:
    ledger = await asyncio.to_thread(open_ledger, settings)
    try:
        echo(await wait_for_relay(settings, ledger, wait_seconds))
        fold = Rebuild()
        async for record in read_topic(settings.kafka_bootstrap, topic):
            where = f"partition {record.partition} offset {record.offset}"
            if record.envelope is None:
                fold.problems.append(Difference("record", f"{where}: {record.error}"))
                continue
            payload = record.envelope.event.model_dump(mode="json")
            fold.apply(record.envelope.id, record.envelope.type, payload, where)
        ids = await asyncio.to_thread(account_ids, ledger)
        differences = await asyncio.to_thread(fold.compare, ids, loader(ledger))
    finally:
        await asyncio.to_thread(ledger.close)
    echo(
        f"{fold.records} records folded; {len(ids)} accounts in the ledger; "
        f"minted {fold.ledger.minted}, in accounts {fold.ledger.circulating()}"
    )
    for difference in differences:
        echo(f"DIFFERENCE {difference}")
    echo("no differences" if not differences else f"{len(differences)} differences")
    return differences
