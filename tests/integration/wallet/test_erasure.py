"""Erasure and access requests on the real PostgreSQL (and, for the published record and the
research export, the real broker): after an erasure, no path reads the person any more — not
the API, not the event rows, not the snapshots — and the ledger is whole."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from kgo_runtime.testing import read_topic
from services.wallet.adapters.personal_data import PREFIX, PersonalDataVault, SealError
from services.wallet.adapters.resident_keys import PostgresResidentKeys
from services.wallet.adapters.tokens import PostgresTokenStore
from services.wallet.application.bus import CommandBus
from services.wallet.application.ledger import WalletLedger
from services.wallet.bootstrap import create_app
from services.wallet.domain.identity import resident_record_id
from services.wallet.entrypoints.container import WalletContainer
from services.wallet.entrypoints.http import API_METADATA, build_router, install_error_handlers
from services.wallet.settings import WalletSettings

from .test_missions_grants import running
from .test_missions_grants import settings as settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NID, OTHER_NID = "1234567890121", "3100600181239"
PERSON = {"national_id": NID, "phone": "0812345678", "full_name": "Somchai Jaidee"}
ERASURE = {"reason": "asked at the counter", "reference": "PDPA-2026-0042"}


@dataclass
class Wallet:
    client: httpx.AsyncClient
    container: WalletContainer
    pool: asyncpg.Pool
    schema: str
    admin: dict[str, str]

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {**self.admin, "Idempotency-Key": uuid4().hex}
        return await self.client.request(method, path, json=body, headers=headers)

    async def register(self, person: dict[str, str]) -> UUID:
        response = await self.call("POST", "/v1/residents", person)
        assert response.status_code == 201, response.text
        return UUID(response.json()["wallet_id"])

    async def rows(self, table: str) -> list[str]:
        """Every row of a table of the wallet's schema, as text (bytea decoded)."""
        found = await self.pool.fetch(f"SELECT * FROM {self.schema}.{table}")
        return [
            " ".join(v.decode(errors="replace") if isinstance(v, bytes) else str(v)
                     for v in r.values())
            for r in found
        ]  # fmt: skip


@pytest.fixture
async def pool(wallet_settings: WalletSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(wallet_settings.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def wallet(
    ledger: WalletLedger, bus: CommandBus, pool: asyncpg.Pool, wallet_settings: WalletSettings
) -> AsyncIterator[Wallet]:
    schema = wallet_settings.database_schema
    tokens, keys = (
        PostgresTokenStore(pool, schema=schema),
        PostgresResidentKeys(pool, schema=schema),
    )
    await asyncio.gather(tokens.create_tables(), keys.create_tables())
    vault = PersonalDataVault(seal_key=bytes(range(32)), index_key=bytes(range(32, 64)))
    app = FastAPI(**API_METADATA)
    install_error_handlers(app)
    app.include_router(build_router())
    container = WalletContainer(
        settings=wallet_settings, ledger=ledger, bus=bus, vault=vault,
        directory=None, tokens=tokens, keys=keys,  # type: ignore[arg-type]
    )  # fmt: skip
    app.state.wallet = container
    admin = await tokens.issue("municipal_admin", "admin")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wallet") as client:
        yield Wallet(client, container, pool, schema, {"Authorization": f"Bearer {admin.token}"})


def _tokens(rows: list[str]) -> list[str]:
    return [t for row in rows for t in re.findall(re.escape(PREFIX) + r"[A-Za-z0-9_=-]+", row)]


async def test_erased_personal_data_is_unreadable_everywhere_it_is_stored(
    wallet: Wallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WalletLedger, "snapshot_every", 2)
    assert (await wallet.call("POST", "/v1/treasury/genesis")).status_code == 201
    wallet_id = await wallet.register(PERSON)
    other = await wallet.register({"national_id": OTHER_NID, "phone": "0898765432"})
    before = (await wallet.call("GET", f"/v1/residents/{wallet_id}/data")).json()
    assert before["personal_data"]["national_id"]["full_name"] == "Somchai Jaidee"
    for table in ("wallet_events", "wallet_snapshots", "wallet_data_keys"):
        assert not any(NID in row or "Somchai" in row for row in await wallet.rows(table))

    erased = await wallet.call("POST", f"/v1/residents/{wallet_id}/erasure", ERASURE)
    assert erased.status_code == 200, erased.text

    # The API: the download says erased, with no personal data.
    after = await wallet.call("GET", f"/v1/residents/{wallet_id}/data")
    assert after.json()["erased"] is True and after.json()["personal_data"] is None
    # The stored rows: the ciphertext is still there (event rows are never rewritten), its
    # key is not; no remaining key (the service's, or any resident's) opens any of it.
    vault = wallet.container.vault
    keys = await wallet.pool.fetch(
        f"SELECT wallet_id, wrapped FROM {wallet.schema}.wallet_data_keys"
    )
    assert {r["wallet_id"]: r["wrapped"] is None for r in keys} == {wallet_id: True, other: False}
    remaining = [vault.unwrap(r["wallet_id"], r["wrapped"]) for r in keys if r["wrapped"]]
    record = wallet.container.ledger.repository.get(resident_record_id(wallet_id))
    claim = wallet.container.ledger.repository.get(record.claims[0])
    stored = _tokens(await wallet.rows("wallet_events") + await wallet.rows("wallet_snapshots"))
    assert claim.sealed_personal_data in stored
    for data_key in remaining:
        for field in ("national_id", "phone"):
            with pytest.raises((SealError, ValueError)):
                data_key.unseal(field, claim.sealed_personal_data)
    with pytest.raises(SealError):
        vault.unseal(claim.sealed_personal_data)
    snapshots = await wallet.pool.fetchval(
        f"SELECT count(*) FROM {wallet.schema}.wallet_snapshots WHERE originator_id = $1",
        wallet_id,
    )
    assert snapshots >= 1  # the account was snapshotted, and it holds nothing personal
    # The blind indexes are gone: nothing leads from the national ID or phone to a claim.
    index = await wallet.rows("wallet_identity_index")
    assert vault.blind_index("national_id", NID) not in " ".join(index)
    assert vault.blind_index("phone", "0812345678") not in " ".join(index)
    erasures = await wallet.rows("wallet_erasures")
    assert len(erasures) == 1 and "PDPA-2026-0042" in erasures[0]

    # The person registers again (the default), and gets a new wallet.
    again = await wallet.register(PERSON)
    assert again != wallet_id


async def test_a_ciphertext_moved_to_another_resident_is_refused(wallet: Wallet) -> None:
    somchai = await wallet.register(PERSON)
    malee = await wallet.register({"national_id": OTHER_NID, "phone": "0898765432"})
    ledger = wallet.container.ledger

    def sealed_of(wallet_id: UUID) -> tuple[UUID, str]:
        record = ledger.repository.get(resident_record_id(wallet_id))
        return record.claims[0], ledger.repository.get(record.claims[0]).sealed_personal_data

    (_, somchais), (malees_claim, malees) = sealed_of(somchai), sealed_of(malee)
    # Someone with write access to the database puts Somchai's sealed data in Malee's claim.
    await wallet.pool.execute(
        f"UPDATE {wallet.schema}.wallet_events SET state = convert_to(replace("
        "convert_from(state, 'UTF8'), $2, $3), 'UTF8') WHERE originator_id = $1",
        malees_claim, malees, somchais,
    )  # fmt: skip

    answer = await wallet.call("GET", f"/v1/residents/{malee}/data")

    assert answer.status_code == 500, answer.text
    assert answer.json()["code"] == "personal_data_unreadable"
    assert NID not in answer.text


async def test_bad_keys_keep_the_wallet_from_becoming_ready(
    wallet_settings: WalletSettings, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    short = base64.urlsafe_b64encode(bytes(16)).decode()
    app = create_app(wallet_settings.model_copy(update={"pii_key": SecretStr(short)}))
    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://wallet") as client,
    ):
        await asyncio.sleep(2)
        ready = await client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert not app.state.runtime.started.is_set()
    logged = caplog.text + capsys.readouterr().err
    assert "wallet keys refused" in logged
    assert "WALLET_PII_KEY must be exactly 32 bytes (AES-256), got 16" in logged


async def test_erasure_is_published_and_research_exports_leave_the_resident_out(
    settings: WalletSettings, tmp_path: Path
) -> None:
    from services.research.bootstrap import run_export
    from services.research.settings import ResearchSettings

    async with running(settings) as container:
        data = container.resident_data
        stamp = {"caller": "municipal_admin:admin", "at": container.clock.now()}
        kept, gone = [
            UUID(str((await container.bus.submit(await data.registration(
                {**stamp, "idempotency_key": uuid4().hex}, national_id=nid, phone=None,
                personal={"national_id": nid}, sealed_extra={}, digest_extra={},
            ))).body["wallet_id"]))
            for nid in (OTHER_NID, NID)
        ]  # fmt: skip
        outcome = await data.erase(
            {**stamp, "idempotency_key": uuid4().hex}, wallet_id=gone, **ERASURE
        )
        assert outcome.ok, outcome
        records = await read_topic(settings.kafka_bootstrap, settings.events_topic, count=3)
    erased = [r for r in records if dict(r.headers)["ce_type"] == b"kgo.wallet.ResidentErased.v1"]
    assert len(erased) == 1
    payload = json.loads(erased[0].value)
    assert payload["account_id"] == str(gone) and payload["reference"] == "PDPA-2026-0042"
    assert NID not in erased[0].value.decode()

    research = ResearchSettings(
        topics=[settings.events_topic], audit_schema=f"t_audit_{uuid4().hex[:8]}",
        pseudonym_key=SecretStr(base64.urlsafe_b64encode(bytes(32)).decode()),
    )  # fmt: skip
    try:
        result = await run_export(purpose="erasure test", out=tmp_path / "x", settings=research)
    finally:
        conn = await asyncpg.connect(research.database_url)
        await conn.execute(f"DROP SCHEMA IF EXISTS {research.audit_schema} CASCADE")
        await conn.close()
    counts = result.manifest["counts"]
    assert (counts["erased_residents"], counts["erased_rows"]) == (1, 1)
    rows = {t["name"]: t["rows"] for t in result.manifest["tables"]}
    assert rows["wallet.AccountOpened.v1"] == 1  # the resident kept, not the one erased
    assert "wallet.ResidentErased.v1" not in rows
    assert kept != gone
