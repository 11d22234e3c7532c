"""`kgo wallet rekey` on the real PostgreSQL: wallets stored as they were before per-resident
data keys (services/wallet/testing.py), a run interrupted half-way, the rerun (the real CLI,
in its own process) while the wallet serves registrations and an erasure, then the service
key rotated: the formerly legacy wallets download their personal data, erase for good (no
key left opens either copy of it) and free their national ID for a new registration."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from kgo_runtime.settings import PROJECT_ROOT
from services.wallet.adapters.personal_data import PersonalDataVault, SealError
from services.wallet.adapters.resident_keys import PostgresResidentKeys
from services.wallet.adapters.tokens import PostgresTokenStore
from services.wallet.application.bus import CommandBus
from services.wallet.application.ledger import WalletLedger
from services.wallet.application.rekeying import Rekeying
from services.wallet.domain.identity import IdentityClaim, resident_record_id
from services.wallet.domain.ids import claim_id
from services.wallet.entrypoints.container import WalletContainer, business_now
from services.wallet.entrypoints.http import API_METADATA, build_router, install_error_handlers
from services.wallet.entrypoints.http.thai_ids import national_id_check_digit
from services.wallet.settings import WalletSettings
from services.wallet.testing import open_legacy_wallet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

OLD, NEW, INDEX = bytes(range(32)), bytes(range(100, 132)), bytes(range(32, 64))
ERASURE = {"reason": "asked at the counter", "reference": "PDPA-2026-0099"}


def nid(n: int) -> str:
    first = f"1{n:011d}"
    return first + str(national_id_check_digit(first))


def phone(n: int) -> str:
    return f"08{n:08d}"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


class Wallet:
    """A serving wallet on Postgres whose keys can be rotated under it."""

    def __init__(self, container: WalletContainer, client: httpx.AsyncClient, admin: str) -> None:
        self.container, self.client = container, client
        self.admin = {"Authorization": f"Bearer {admin}"}

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        headers = {**kw.get("headers", self.admin), "Idempotency-Key": uuid4().hex}
        return await self.client.request(method, path, json=body, headers=headers)

    async def register(self, n: int) -> httpx.Response:
        return await self.call("POST", "/v1/residents", {"national_id": nid(n), "phone": phone(n)})

    async def data(self, wallet_id: UUID) -> dict[str, Any]:
        answer = await self.call("GET", f"/v1/residents/{wallet_id}/data")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def use_keys(self, seal: bytes, previous: bytes | None = None, legacy: bool = True) -> None:
        self.container.vault = PersonalDataVault(seal, INDEX, previous, legacy_readable=legacy)

    def kgo(self, *args: str, seal: bytes, previous: bytes | None = None) -> Any:
        settings = self.container.settings
        env = {**os.environ, "WALLET_DATABASE_URL": settings.database_url,
               "WALLET_DATABASE_SCHEMA": settings.database_schema,
               "WALLET_PII_KEY": b64(seal), "WALLET_BLIND_INDEX_KEY": b64(INDEX)}  # fmt: skip
        env.pop("WALLET_PII_PREVIOUS_KEY", None)
        if previous is not None:
            env["WALLET_PII_PREVIOUS_KEY"] = b64(previous)
        return subprocess.run(
            [sys.executable, "-m", "kgo_cli.main", "wallet", *args],
            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip


@pytest.fixture
async def wallet(
    ledger: WalletLedger, bus: CommandBus, wallet_settings: WalletSettings
) -> AsyncIterator[Wallet]:
    pool = await asyncpg.create_pool(wallet_settings.database_url, min_size=1, max_size=4)
    schema = wallet_settings.database_schema
    tokens, keys = (
        PostgresTokenStore(pool, schema=schema),
        PostgresResidentKeys(pool, schema=schema),
    )
    await asyncio.gather(tokens.create_tables(), keys.create_tables())
    container = WalletContainer(
        settings=wallet_settings, ledger=ledger, bus=bus, vault=PersonalDataVault(OLD, INDEX),
        directory=None, tokens=tokens, keys=keys,  # type: ignore[arg-type]
    )  # fmt: skip
    app = FastAPI(**API_METADATA)
    install_error_handlers(app)
    app.include_router(build_router())
    app.state.wallet = container
    admin = await tokens.issue("municipal_admin", "admin")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wallet") as client:
        yield Wallet(container, client, admin.token)
    await pool.close()


async def test_rekey_interrupted_rerun_beside_a_serving_wallet_then_rotation(
    wallet: Wallet,
) -> None:
    container = wallet.container
    assert (await wallet.call("POST", "/v1/treasury/genesis")).status_code == 201
    # Before per-resident keys: six residents, one of them later erased (legacy erasure).
    legacy = [
        await asyncio.to_thread(
            open_legacy_wallet, container.ledger, container.vault, national_id=nid(n),
            at=business_now(), phone=phone(n) if n % 2 else None,
            extra={"full_name": f"Resident {n}"},
        )
        for n in range(1, 7)
    ]  # fmt: skip
    pre_erased, erased_during = legacy[5], legacy[4]
    answer = await wallet.call("POST", f"/v1/residents/{pre_erased}/erasure", ERASURE)
    assert answer.status_code == 200 and answer.json()["legacy"] is True
    assert (await wallet.data(legacy[0]))["personal_data"] is None  # not yet

    # Every host gets the new service key, the old one as the previous key.
    wallet.use_keys(NEW, previous=OLD)

    # A run dies after two wallets, before the third one's ledger step.
    data = container.resident_data
    submitted = 0
    real_submit = data.bus.submit

    async def dying(command: Any) -> Any:
        nonlocal submitted
        submitted += 1
        if submitted == 3:
            raise ConnectionError("kill -9")
        return await real_submit(command)

    data.bus = type("Dying", (), {"submit": staticmethod(dying)})()
    job = Rekeying(data)
    with pytest.raises(ConnectionError):
        for found in await job.legacy_wallets():
            await job.rekey(found)
    assert job.report.rekeyed + job.report.erased == 2

    # The rerun, by the CLI in its own process, while the wallet registers new people and
    # erases one of the legacy residents.
    dry = await asyncio.to_thread(wallet.kgo, "rekey", "--dry-run", seal=NEW, previous=OLD)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["planned"] >= 3 and not json.loads(dry.stdout)["done"]
    rerun, erased, *registered = await asyncio.gather(
        asyncio.to_thread(wallet.kgo, "rekey", seal=NEW, previous=OLD),
        wallet.call("POST", f"/v1/residents/{erased_during}/erasure", ERASURE),
        *(wallet.register(n) for n in range(100, 104)),
    )
    assert rerun.returncode == 0, rerun.stderr
    assert erased.status_code == 200, erased.text
    assert all(r.status_code == 201 for r in registered), [r.text for r in registered]
    assert "re-keyed:" in rerun.stderr
    again = await asyncio.to_thread(wallet.kgo, "rekey", seal=NEW, previous=OLD)
    report = json.loads(again.stdout)
    assert again.returncode == 0 and report["done"], again.stderr
    assert (report["legacy_left"], report["previous_key_left"], report["failed"]) == (0, 0, {})

    # The old key destroyed: no host has it any more.
    wallet.use_keys(NEW, legacy=False)
    for n, wallet_id in enumerate(legacy[:4], start=1):
        opened = (await wallet.data(wallet_id))["personal_data"]["national_id"]
        assert (opened["national_id"], opened["full_name"]) == (nid(n), f"Resident {n}")
    for gone in (pre_erased, erased_during):
        assert (await wallet.data(gone))["erased"] is True
    tokens = container.tokens
    me = await tokens.issue("resident", "app", str(legacy[0]))  # type: ignore[attr-defined]
    mine = await wallet.call("GET", "/v1/me/data", headers={"Authorization": f"Bearer {me.token}"})
    assert mine.json()["personal_data"]["national_id"]["national_id"] == nid(1)

    # A formerly legacy resident erased with `kgo wallet erase`: for good.
    target = legacy[0]
    erase = await asyncio.to_thread(wallet.kgo, "erase", str(target), "--reason", "asked",
                                    "--reference", "PDPA-2026-0100", seal=NEW)  # fmt: skip
    assert erase.returncode == 0, erase.stderr
    assert json.loads(erase.stdout)["legacy"] is False
    assert await container.keys.key_of(target) is None
    record = container.ledger.repository.get(resident_record_id(target))
    new_claim = container.ledger.repository.get(record.claims[0])
    old_claim = container.ledger.repository.get(
        claim_id("national_id", container.vault.blind_index("national_id", nid(1)))
    )
    assert isinstance(old_claim, IdentityClaim) and old_claim.superseded
    for sealed in (new_claim.sealed_personal_data, old_claim.sealed_personal_data):
        with pytest.raises(SealError):  # neither copy opens with any key the wallet has
            container.vault.unseal(sealed)
    remaining = await container.keys.wrapped_keys(None, 1000)  # type: ignore[attr-defined]
    for wallet_id, wrapped in remaining:
        data_key = container.vault.unwrap(wallet_id, wrapped)
        with pytest.raises(SealError):
            data_key.unseal("national_id", new_claim.sealed_personal_data)

    # Each erased one may register again (the default), the others may not twice.
    for n in (1, 5, 6):
        assert (await wallet.register(n)).status_code == 201, n
    refused = await wallet.register(2)
    assert refused.status_code == 409 and refused.json()["code"] == "already_registered"
