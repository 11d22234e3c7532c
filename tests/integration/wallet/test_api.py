"""The wallet's API tokens and HTTP API on the real PostgreSQL (each test in its own schema).

The token store keeps hashes only, answers a retried issue without the secret, and lets a
revocation through to other processes within its cache time. Then the API runs on the real
event store, directory and token store, from a token made by `kgo wallet token create`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.wallet.adapters.directory import WalletDirectory
from services.wallet.adapters.personal_data import PersonalDataVault
from services.wallet.adapters.tokens import PostgresTokenStore, TokenKeyReused, token_hash
from services.wallet.application.bus import CommandBus
from services.wallet.application.ledger import WalletLedger
from services.wallet.entrypoints.container import WalletContainer
from services.wallet.entrypoints.http import API_METADATA, build_router, install_error_handlers
from services.wallet.settings import WalletSettings

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pool(wallet_settings: WalletSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(wallet_settings.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def store(pool: asyncpg.Pool, wallet_settings: WalletSettings) -> PostgresTokenStore:
    store = PostgresTokenStore(pool, schema=wallet_settings.database_schema)
    await asyncio.gather(store.create_tables(), store.create_tables())  # racing is harmless
    return store


async def test_only_the_hash_of_a_token_is_stored(
    store: PostgresTokenStore, pool: asyncpg.Pool, wallet_settings: WalletSettings
) -> None:
    issued = await store.issue("payee", "till-7", str(uuid4()))

    assert issued.token is not None and issued.token.startswith("kgo_")
    assert await store.authenticate(issued.token) == issued.record
    rows = await pool.fetch(f"SELECT * FROM {wallet_settings.database_schema}.wallet_api_tokens")
    assert [row["token_hash"] for row in rows] == [token_hash(issued.token)]
    assert not any(issued.token in str(value) for row in rows for value in row.values())
    assert await store.authenticate(issued.token + "x") is None
    assert await store.authenticate("not even a kgo token") is None


async def test_a_revocation_reaches_other_processes_within_the_cache_time(
    pool: asyncpg.Pool, wallet_settings: WalletSettings
) -> None:
    clock = Clock()
    here = PostgresTokenStore(pool, schema=wallet_settings.database_schema, clock=clock)
    elsewhere = PostgresTokenStore(pool, schema=wallet_settings.database_schema, clock=clock)
    await here.create_tables()
    issued = await here.issue("auditor", "audit-office")
    assert issued.token is not None
    assert await here.authenticate(issued.token) is not None
    assert await elsewhere.authenticate(issued.token) is not None  # now cached there

    revoked = await here.revoke(issued.record.token_id)

    assert revoked is not None and revoked.revoked_at is not None
    assert await here.authenticate(issued.token) is None  # at once where it was revoked
    assert await elsewhere.authenticate(issued.token) is not None  # cached a moment longer
    clock.now += 5.1
    assert await elsewhere.authenticate(issued.token) is None
    assert (await here.revoke(issued.record.token_id)) == revoked  # the first time is kept
    assert await here.revoke(uuid4()) is None


async def test_an_issue_retried_with_its_key_is_the_same_token(store: PostgresTokenStore) -> None:
    async def issue(name: str) -> Any:
        return await store.issue(
            "service", name, issued_by="municipal_admin:admin", idempotency_key="k1"
        )

    answers = await asyncio.gather(*(issue("missions") for _ in range(5)))

    assert len({answer.record.token_id for answer in answers}) == 1
    assert sum(answer.token is not None for answer in answers) == 1
    with pytest.raises(TokenKeyReused):
        await issue("merchant")
    assert [t.name for t in await store.list()] == ["missions"]


async def test_listing_leaves_revoked_tokens_out_unless_asked(store: PostgresTokenStore) -> None:
    kept = await store.issue("auditor", "a")
    gone = await store.issue("auditor", "b")
    await store.revoke(gone.record.token_id)

    assert [t.token_id for t in await store.list()] == [kept.record.token_id]
    assert len(await store.list(include_revoked=True)) == 2


def kgo(*args: str, settings: WalletSettings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WALLET_DATABASE_SCHEMA": settings.database_schema}
    return subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", "wallet", "token", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@dataclass
class Wallet:
    """The API on the real stores, and the clock of its token cache."""

    client: httpx.AsyncClient
    directory: WalletDirectory
    clock: Clock

    async def post(self, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
        response = await self.client.post(
            path, json=body, headers={**headers, "Idempotency-Key": uuid4().hex}
        )
        assert response.status_code in (200, 201), response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def wallet(
    ledger: WalletLedger, bus: CommandBus, pool: asyncpg.Pool, wallet_settings: WalletSettings
) -> AsyncIterator[Wallet]:
    schema = wallet_settings.database_schema
    clock = Clock()
    tokens = PostgresTokenStore(pool, schema=schema, clock=clock)
    directory = WalletDirectory(ledger, pool, schema=schema)
    await asyncio.gather(tokens.create_tables(), directory.create_tables())
    vault = PersonalDataVault(seal_key=bytes(range(32)), index_key=bytes(range(32, 64)))
    app = FastAPI(**API_METADATA)
    install_error_handlers(app)
    app.include_router(build_router())
    app.state.wallet = WalletContainer(
        settings=wallet_settings, ledger=ledger, bus=bus, vault=vault,
        directory=directory, tokens=tokens,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wallet") as client:
        yield Wallet(client, directory, clock)


async def test_the_api_on_postgres_from_a_cli_token_to_a_spend(
    wallet: Wallet, wallet_settings: WalletSettings
) -> None:
    made = await asyncio.to_thread(
        kgo, "create", "--role", "municipal_admin", "--name", "admin", settings=wallet_settings
    )
    assert made.returncode == 0, made.stderr
    admin = {"Authorization": f"Bearer {made.stdout.strip()}"}

    await wallet.post("/v1/treasury/genesis", None, admin)
    await wallet.post("/v1/budgets", {"programme": "welcome", "label": "Welcome"}, admin)
    await wallet.post("/v1/budgets/welcome/allocations", {"amount": 1_000}, admin)
    shop = await wallet.post(
        "/v1/payees", {"kind": "shop", "external_ref": "s1", "label": "Noodles"}, admin
    )
    resident = await wallet.post(
        "/v1/residents", {"national_id": "1234567890121", "phone": "0812345678"}, admin
    )
    service = await wallet.post("/v1/tokens", {"role": "service", "name": "missions"}, admin)
    as_service = {"Authorization": f"Bearer {service['token']}"}
    wallet_id = resident["wallet_id"]
    grant = {"programme": "welcome", "wallet_id": wallet_id, "amount": 100,
             "reason": "signup", "reference": "signup:1"}  # fmt: skip
    await wallet.post("/v1/grants", grant, as_service)
    resident_token = await wallet.post(
        "/v1/tokens", {"role": "resident", "name": "somchai", "subject": wallet_id}, admin
    )
    as_resident = {"Authorization": f"Bearer {resident_token['token']}"}
    code = (await wallet.post("/v1/payment-codes", None, as_resident))["code"]
    spend = {"payee_id": shop["account_id"], "amount": 40, "reference": "bill-1",
             "authorisation": {"kind": "payment_code", "code": code}}  # fmt: skip
    assert (await wallet.post("/v1/spends", spend, as_service))["wallet_id"] == wallet_id

    read = (await wallet.client.get(f"/v1/wallets/{wallet_id}", headers=as_service)).json()
    assert (read["available"], read["held"]) == (60, 0)
    await wallet.directory.catch_up()
    supply = (await wallet.client.get("/v1/treasury/supply", headers=admin)).json()
    assert (supply["minted"], supply["conserved"]) == (1_000_000, True)

    # Revoked by another process (the CLI): refused here once the cached lookup runs out.
    listed = await asyncio.to_thread(kgo, "list", settings=wallet_settings)
    assert "missions" in listed.stdout and service["token"] not in listed.stdout
    revoked = await asyncio.to_thread(kgo, "revoke", service["token_id"], settings=wallet_settings)
    assert revoked.returncode == 0, revoked.stderr
    wallet.clock.now += 5.1
    refused = await wallet.client.get(f"/v1/wallets/{wallet_id}", headers=as_service)
    assert refused.status_code == 401
