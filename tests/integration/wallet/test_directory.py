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


def test_the_directory_reads_each_stored_event_as_its_domain_event_says(driver):
    """The directory decodes only what it folds (entries from their stored balances, the
    rest of the log skipped by topic); what it makes of a history with every kind of entry
    (supply, budgets, grants, spends, holds captured, released and expired) is what the
    mapper's domain events make of it."""
    from services.wallet.adapters.directory import _BALANCE, _SKIP, _Changes, _Reader

    wallets, shop = driver.setup(residents=3, grant=100)
    driver.run(c.Spend, wallet_id=wallets[0], payee_id=shop, amount=7, reference="r1")
    holds = [
        UUID(
            driver.run(
                c.PlaceHold, wallet_id=w, payee_id=shop, amount=20, reference="h", ttl_seconds=60
            ).body["hold_id"]
        )
        for w in wallets
    ]
    driver.run(c.CaptureHold, wallet_id=wallets[0], hold_id=holds[0], payee_id=shop, amount=5)
    driver.run(c.ReleaseHold, wallet_id=wallets[1], hold_id=holds[1])
    later = business_now() + timedelta(minutes=2)
    driver.run(c.ExpireHold, at=later, wallet_id=wallets[2], hold_id=holds[2])
    driver.run(c.ReturnBudget, programme="welcome", amount=10)

    mapper = driver.ledger.mapper
    reader, read, decoded = _Reader(mapper), _Changes(), _Changes()
    for notification in driver.ledger.recorder.select_notifications(1, 10_000):
        reader.fold(notification, read)
        decoded.fold(mapper.to_domain_event(notification))
    assert vars(read) == vars(decoded)
    assert read.balances and read.hold_amounts and read.minted == 1_000_000
    kinds = set(reader._kinds.values())
    assert {_BALANCE, _SKIP} <= kinds  # entries were read directly, receipts skipped


def test_the_log_read_from_a_position_is_the_stock_recorders(driver):
    """The relay's and the directory's way of reading the log (a start and a limit: one
    statement made once, tuple rows) gives what eventsourcing's own select gives."""
    from eventsourcing.postgres import PostgresApplicationRecorder

    driver.setup(residents=2, grant=50)
    recorder = driver.ledger.recorder
    stock = PostgresApplicationRecorder.select_notifications.__wrapped__
    for start, limit in ((1, 10_000), (3, 5), (10_000, 10)):
        assert recorder.select_notifications(start, limit) == stock(recorder, start, limit)
    assert recorder.select_notifications(1, 5)  # not empty: the comparison compared rows
