"""Merchant integration fixtures: the merchant's event store and tables on the real
PostgreSQL, each test in a fresh schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from kgo_runtime.clock import ManualClock
from kgo_runtime.eventstore import open_application
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import fresh_schema
from services.merchant.adapters.book import MerchantBook
from services.merchant.adapters.postgres import create_merchant_tables
from services.merchant.application.service import MerchantApplication
from services.merchant.application.store import Store
from services.merchant.domain.ids import shop_payee_id

from ...unit.merchant.conftest import FACTS, T0

DSN = InfraSettings().database_url("merchant")


@dataclass
class Merchant:
    schema: str
    pool: asyncpg.Pool
    application: MerchantApplication
    store: Store
    book: MerchantBook
    clock: ManualClock


@pytest.fixture
async def merchant() -> AsyncIterator[Merchant]:
    async with fresh_schema(DSN, "it_merchant") as schema:
        pool = await asyncpg.create_pool(DSN, min_size=1, max_size=4)
        application = await open_application(MerchantApplication, DSN, schema=schema, pool=pool)
        await create_merchant_tables(pool, schema)
        book = MerchantBook(application, pool, schema=schema)
        await book.create_tables()
        try:
            yield Merchant(schema, pool, application, Store(application), book, ManualClock(T0))
        finally:
            await asyncio.to_thread(application.close)
            await pool.close()


__all__ = ["DSN", "FACTS", "T0", "Merchant", "shop_payee_id"]
