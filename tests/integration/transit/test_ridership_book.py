"""Ridership statements kept in PostgreSQL (adapters/ridership_book.py) on the real store:
the same statement as the in-memory fold, the log position stored with the rows, so a new
process (a restart) answers from the tables and folds only what is new; two processes
following the same log at once count every trip once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import asyncpg
import psycopg
import pytest

from kgo_runtime.eventstore import eventstore_env
from kgo_runtime.settings import InfraSettings
from services.transit.adapters.ridership_book import RidershipBook
from services.transit.application.ridership import Ridership
from services.transit.application.service import TransitApplication
from services.transit.domain.errors import WalletDown
from tests.unit.transit.conftest import MORNING, Transit, build_transit

pytestmark = pytest.mark.integration
URL = InfraSettings().database_url("transit")


@pytest.fixture
async def on_postgres() -> AsyncIterator[tuple[Transit, asyncpg.Pool, str]]:
    schema = f"test_ridership_{uuid4().hex[:10]}"
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store = TransitApplication(env=eventstore_env(URL, schema=schema, extra={"CREATE_TABLE": "y"}))
    pool = await asyncpg.create_pool(URL, min_size=1, max_size=4)
    try:
        yield build_transit(store=store), pool, schema
    finally:
        await pool.close()
        store.close()
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def _rides(transit: Transit) -> None:
    transit.wallet.resident(500, "pass-A")
    transit.wallet.resident(0, "pass-B")
    await transit.tap("pass-A")
    await transit.tap("pass-A", MORNING + timedelta(minutes=1))  # double tap
    await transit.tap("pass-B", MORNING + timedelta(hours=2))  # too few coins
    await transit.tap("pass-A", MORNING + timedelta(hours=2), bus="bus-02")
    transit.wallet.crash_after_spend = True
    with pytest.raises(WalletDown):
        await transit.tap("pass-A", MORNING + timedelta(days=1), bus="bus-03")  # pending
    transit.wallet.crash_after_spend = False


async def test_the_book_answers_as_the_fold_and_survives_a_restart(
    on_postgres: tuple[Transit, asyncpg.Pool, str],
) -> None:
    transit, pool, schema = on_postgres
    await _rides(transit)
    book = RidershipBook(transit.store, pool, schema=schema)
    await book.create_tables()
    in_memory = Ridership(transit.store)
    rows = await book.read()
    assert rows == in_memory.statement() and len(rows) == 2
    assert rows[0]["declines"] == {"double_tap": 1} and rows[0]["coins"] == 50
    assert rows[1]["declines"] == {"insufficient_coins": 1} and rows[1]["rides"] == 2
    assert await book.pending_trips() == 1 == len(in_memory.pending)

    # A restart: a new book on the same tables starts from the stored position.
    stored = await pool.fetchval(f'SELECT position FROM "{schema}".transit_ridership_position')
    assert stored == transit.store.recorder.max_notification_id()
    restarted = RidershipBook(transit.store, pool, schema=schema)
    assert await restarted.follow_once() == 0
    assert await restarted.read() == rows

    # New rides are folded once, even by two processes following at once.
    transit.wallet.balances[transit.wallet.passes["pass-A"]] = 100
    await transit.tap("pass-A", MORNING + timedelta(days=2))
    await asyncio.gather(book.catch_up(), restarted.catch_up())
    again = await restarted.read()
    assert again == in_memory.statement() and len(again) == 3
    assert sum(row["rides"] for row in again) == 4
