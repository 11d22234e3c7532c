"""The wallet directory (its own read model) on the real PostgreSQL: it follows the event log,
knows every budget and the supply, lists holds that are due, and never stalls on a stored
event it finds awkward."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import asyncpg
import pytest

from services.wallet.adapters.directory import WalletDirectory
from services.wallet.application import commands as c
from services.wallet.entrypoints.container import business_now

pytestmark = pytest.mark.integration


async def test_the_directory_follows_the_log(driver, wallet_settings):
    [wallet], shop = driver.setup(residents=1, grant=100)
    # a label with a NUL got into the log (the API refuses them now; history keeps them)
    driver.run(c.OpenPayee, kind="shop", external_ref="nul-shop", label="Noodles\x00")
    hold = driver.run(
        c.PlaceHold, wallet_id=wallet, payee_id=shop, amount=30, reference="r", ttl_seconds=60
    )
    pool = await asyncpg.create_pool(wallet_settings.database_url, min_size=0, max_size=2)
    try:
        directory = WalletDirectory(driver.ledger, pool, schema=wallet_settings.database_schema)
        await directory.catch_up()
        supply = await directory.supply()
        assert (supply["minted"], supply["in_accounts"], supply["conserved"]) == (
            1_000_000, 1_000_000, True,
        )  # fmt: skip
        assert [b["programme"] for b in await directory.budgets()] == ["welcome"]
        assert await directory.due_holds(business_now()) == []
        later = business_now() + timedelta(minutes=2)
        assert await directory.due_holds(later) == [(wallet, UUID(hold.body["hold_id"]))]
        driver.run(c.ReleaseHold, wallet_id=wallet, hold_id=UUID(hold.body["hold_id"]))
        await directory.catch_up()
        assert await directory.due_holds(later) == []
    finally:
        await pool.close()
