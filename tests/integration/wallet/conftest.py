"""Wallet integration fixtures: ledgers on the real PostgreSQL, each test in a fresh schema."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from services.wallet.adapters.event_store import open_ledger
from services.wallet.application import commands as c
from services.wallet.application.bus import CommandBus
from services.wallet.application.ledger import WalletLedger
from services.wallet.entrypoints.container import business_now
from services.wallet.settings import WalletSettings


@pytest.fixture
def wallet_settings() -> Iterator[WalletSettings]:
    settings = WalletSettings(database_schema=f"test_wallet_{uuid4().hex[:10]}")
    yield settings
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {settings.database_schema} CASCADE")


@pytest.fixture
def ledger(wallet_settings: WalletSettings) -> Iterator[WalletLedger]:
    ledger = open_ledger(wallet_settings)
    yield ledger
    ledger.close()


class Driver:
    """Sets up a treasury on a ledger and builds commands."""

    def __init__(self, ledger: WalletLedger) -> None:
        self.ledger = ledger
        self.keys = itertools.count()

    def cmd(
        self, cls: type[c.Command], caller: str = "admin", at: datetime | None = None, **kw: Any
    ) -> c.Command:
        return cls(
            idempotency_key=f"k{next(self.keys)}-{uuid4().hex[:6]}",
            caller=caller,
            at=at or business_now(),
            **kw,
        )

    def run(self, cls: type[c.Command], **kw: Any) -> c.Outcome:
        out = self.ledger.execute([self.cmd(cls, **kw)])[0]
        assert out.ok, out
        return out

    def setup(self, residents: int, grant: int) -> tuple[list[UUID], UUID]:
        self.run(c.MintGenesis)
        self.run(c.OpenBudget, programme="welcome", label="Welcome")
        self.run(c.AllocateBudget, programme="welcome", amount=500_000)
        wallets = [
            UUID(
                self.run(
                    c.RegisterResident,
                    national_id_index=uuid4().hex,
                    phone_index=uuid4().hex,
                    personal_data_digest="d",
                    sealed_personal_data="s",
                    key_id="k",
                ).body["wallet_id"]
            )
            for _ in range(residents)
        ]
        for wallet in wallets:
            self.run(
                c.Grant,
                programme="welcome",
                wallet_id=wallet,
                amount=grant,
                reason="signup",
                reference="s",
            )
        shop = UUID(
            self.run(c.OpenPayee, kind="shop", external_ref="noodles", label="Noodles").body[
                "account_id"
            ]
        )
        return wallets, shop


@pytest.fixture
def driver(ledger: WalletLedger) -> Driver:
    return Driver(ledger)


@pytest.fixture
async def bus(ledger: WalletLedger) -> AsyncIterator[CommandBus]:
    bus = CommandBus(ledger)
    await bus.start()
    yield bus
    await bus.stop()


async def gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))
