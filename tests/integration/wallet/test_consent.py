"""Consent on the real PostgreSQL: a payment code is consumed in the transaction of its
payment, so two wallet processes racing with one code let exactly one payment through."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

import pytest

from services.wallet.adapters.event_store import open_ledger
from services.wallet.application import commands as c
from services.wallet.application.bus import CommandBus
from services.wallet.application.consent_commands import IssueCard, IssuePaymentCode
from services.wallet.domain.instruments import CardAuthorisation, PaymentCodeAuthorisation

pytestmark = pytest.mark.integration


def payment_code(driver, wallet):
    code_id = uuid4()
    driver.run(IssuePaymentCode, caller=f"resident:{wallet}", wallet_id=wallet, ttl_seconds=120,
               instrument_id=code_id, sealed_secret="sealed")  # fmt: skip
    return PaymentCodeAuthorisation(code_id=code_id)


async def test_two_processes_holding_with_one_code_let_exactly_one_through(driver, wallet_settings):
    [wallet], shop = driver.setup(residents=1, grant=1_000)
    code = payment_code(driver, wallet)
    other = open_ledger(wallet_settings)
    buses = [CommandBus(driver.ledger), CommandBus(other)]
    for bus in buses:
        await bus.start()
    try:
        holds = [
            driver.cmd(c.PlaceHold, caller="service:merchant", wallet_id=None, payee_id=shop,
                       amount=100, reference=f"till-{n}", ttl_seconds=60, authorisation=code)
            for n in range(2)
        ]  # fmt: skip
        outcomes = await asyncio.gather(
            *(bus.submit(h) for bus, h in zip(buses, holds, strict=True))
        )
    finally:
        for bus in buses:
            await bus.stop()
    assert sorted(o.status for o in outcomes) == [201, 409]
    assert {o.body.get("code") for o in outcomes if not o.ok} == {"payment_code_used"}
    account = other.account(wallet)
    assert (account.available, account.held, len(account.holds)) == (900, 100, 1)
    other.close()


async def test_a_burst_of_payments_with_one_code_across_two_processes_pays_once(
    driver, wallet_settings
):
    [wallet], shop = driver.setup(residents=1, grant=1_000)
    code = payment_code(driver, wallet)
    other = open_ledger(wallet_settings)
    buses = [CommandBus(driver.ledger), CommandBus(other)]
    for bus in buses:
        await bus.start()
    try:
        commands = [
            driver.cmd(c.Spend if n % 3 else c.PlaceHold, caller="service:merchant",
                       wallet_id=None, payee_id=shop, amount=10, reference=f"r{n}",
                       authorisation=code, **({} if n % 3 else {"ttl_seconds": 60}))
            for n in range(20)
        ]  # fmt: skip
        outcomes = await asyncio.gather(
            *(buses[n % 2].submit(cmd) for n, cmd in enumerate(commands))
        )
    finally:
        for bus in buses:
            await bus.stop()
    assert [o.status for o in outcomes].count(201) == 1
    account = other.account(wallet)
    assert account.available + account.held == 1_000 and account.available == 990
    other.close()


def test_an_expired_code_is_judged_at_the_commands_business_time(driver):
    [wallet], shop = driver.setup(residents=1, grant=1_000)
    code = payment_code(driver, wallet)
    late = driver.cmd(c.Spend, caller="service:merchant", wallet_id=None, payee_id=shop,
                      amount=10, reference="late", authorisation=code,
                      at=driver.ledger.account(wallet).opened_at + timedelta(days=1))  # fmt: skip
    [outcome] = driver.ledger.execute([late])
    assert (outcome.status, outcome.body["code"]) == (409, "payment_code_expired")


def test_a_card_locked_in_one_process_is_locked_in_the_other(driver, wallet_settings):
    [wallet], shop = driver.setup(residents=1, grant=1_000)
    card_id = uuid4()
    driver.run(IssueCard, caller="counter_staff:c1", wallet_id=wallet, pin_fingerprint="f",
               instrument_id=card_id, sealed_secret="s", pin_hash="h", pin_salt="s")  # fmt: skip
    auth = CardAuthorisation(card_id=card_id, pin_fingerprint="wrong")

    def pay(ledger, verified):
        cmd = driver.cmd(
            c.Spend, caller="service:merchant", wallet_id=None, payee_id=shop, amount=5,
            reference="r", authorisation=auth, pin_verified=verified,
        )  # fmt: skip
        return ledger.execute([cmd])[0]

    other = open_ledger(wallet_settings)
    try:
        answers = [pay(driver.ledger if n % 2 else other, False) for n in range(5)]
        assert [a.status for a in answers] == [409, 409, 409, 409, 423]
        assert pay(other, True).status == 423 and pay(driver.ledger, True).status == 423
    finally:
        other.close()
