"""No balance goes below zero and no key takes effect twice, under real concurrency on the
real PostgreSQL: one process's many callers, and two processes sharing one store."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.wallet.adapters.event_store import open_ledger
from services.wallet.application import commands as c
from services.wallet.application.bus import CommandBus

pytestmark = pytest.mark.integration


def spends_of_50(driver, wallet, shop, bill: str) -> list[c.Command]:
    """100 spends of 50 from one wallet at one shop, each with its own key."""
    return [
        driver.cmd(c.Spend, caller="shop", wallet_id=wallet, payee_id=shop, amount=50,
                   reference=f"{bill}-{i}")
        for i in range(100)
    ]  # fmt: skip


async def test_100_concurrent_spends_of_50_against_1000(driver, bus):
    [wallet], shop = driver.setup(residents=1, grant=1_000)
    spends = spends_of_50(driver, wallet, shop, "bill")
    outcomes = await asyncio.gather(*(bus.submit(s) for s in spends))
    statuses = [o.status for o in outcomes]
    assert statuses.count(201) == 20 and statuses.count(409) == 80
    account = driver.ledger.account(wallet)  # read from the store, not the writer's cache
    assert (account.available, account.held) == (0, 0)
    assert driver.ledger.account(shop).available == 1_000


async def test_two_processes_spending_from_one_wallet(driver, wallet_settings):
    """Two ledgers on one store (as two wallet processes would be), each with its own bus,
    race for one balance: the loser of each conflict reloads and decides again, so exactly
    20 spends succeed and the balance ends at zero."""
    [wallet], shop = driver.setup(residents=1, grant=1_000)
    other = open_ledger(wallet_settings)
    buses = [CommandBus(driver.ledger), CommandBus(other)]
    for bus in buses:
        await bus.start()
    try:
        spends = spends_of_50(driver, wallet, shop, "b")
        outcomes = await asyncio.gather(*(buses[i % 2].submit(s) for i, s in enumerate(spends)))
        assert [o.status for o in outcomes].count(201) == 20
        assert other.account(wallet).available == 0
    finally:
        for bus in buses:
            await bus.stop()
        other.close()


def test_one_key_sent_to_two_processes_at_once_takes_effect_once(driver, wallet_settings):
    [wallet], shop = driver.setup(residents=1, grant=1_000)
    other = open_ledger(wallet_settings)
    try:
        spend = driver.cmd(
            c.Spend, caller="shop", wallet_id=wallet, payee_id=shop, amount=100, reference="b"
        )
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(
                pool.map(
                    lambda i: (driver.ledger if i % 2 else other).execute([spend])[0], range(16)
                )
            )
        assert {o.status for o in outcomes} == {201}
        assert len({str(o.body) for o in outcomes}) == 1
        assert sum(not o.replayed for o in outcomes) == 1
        assert other.account(wallet).available == 900
    finally:
        other.close()


def test_a_long_lived_account_loads_from_its_snapshot(driver, wallet_settings):
    [wallet], shop = driver.setup(residents=1, grant=1_000)
    for start in range(0, 250, 50):
        driver.ledger.execute(
            [
                driver.cmd(
                    c.Spend,
                    caller="shop",
                    wallet_id=wallet,
                    payee_id=shop,
                    amount=1,
                    reference=f"r{i}",
                )
                for i in range(start, start + 50)
            ]
        )
    assert driver.ledger.snapshots is not None
    snapshots = list(driver.ledger.snapshots.get(shop, desc=True, limit=1))
    assert snapshots and snapshots[0].originator_version >= 200
    fresh = open_ledger(wallet_settings)
    try:
        account = fresh.account(shop)
        assert account.version == 251 and account.available == 250
    finally:
        fresh.close()


def test_a_refusal_is_never_decided_on_an_account_another_process_has_since_changed(
    driver, wallet_settings
):
    """A writer's cache can be behind the store when another process writes: here this
    ledger cached the wallet at 10 coins, the other granted 1,000 more. A refusal
    writes nothing to the wallet, so no conflict would reveal the stale copy: the ledger
    checks what it read from its cache against the store before it answers."""
    [wallet], shop = driver.setup(residents=1, grant=10)
    other = open_ledger(wallet_settings)
    try:
        granted = other.execute([driver.cmd(c.Grant, caller="service", programme="welcome",
                                            wallet_id=wallet, amount=1_000, reason="r",
                                            reference="late")])[0]  # fmt: skip
        assert granted.status == 201
        spend = driver.cmd(c.Spend, caller="shop", wallet_id=wallet, payee_id=shop, amount=50,
                           reference="after the grant")  # fmt: skip
        paid = driver.ledger.execute([spend])[0]
        assert paid.status == 201, paid.body
        assert other.account(wallet).available == 960
        # And a refusal decided on the fresh copy stays a refusal.
        [refused] = driver.ledger.execute([driver.cmd(c.Spend, caller="shop", wallet_id=wallet,
                                                      payee_id=shop, amount=5_000,
                                                      reference="too much")])  # fmt: skip
        assert refused.body["code"] == "insufficient_funds"
    finally:
        other.close()
