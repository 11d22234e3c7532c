"""The wallet's HTTP API on an in-memory ledger: the real CommandBus and vault, fake token
store and directory (fakes live here, in the unit layer only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from kgo_runtime.clock import ManualClock
from kgo_runtime.metrics import Metrics
from services.wallet.adapters.personal_data import PersonalDataVault
from services.wallet.adapters.tokens import (
    ApiToken,
    IssuedToken,
    TokenKeyReused,
    new_token,
    token_hash,
)
from services.wallet.adapters.wallet_metrics import WalletMetrics
from services.wallet.application.bus import CommandBus
from services.wallet.application.ledger import WalletLedger
from services.wallet.entrypoints.container import WalletContainer
from services.wallet.entrypoints.http import API_METADATA, build_router, install_error_handlers
from services.wallet.entrypoints.http.thai_ids import national_id_check_digit
from services.wallet.settings import WalletSettings

Headers = dict[str, str]


class FakeTokens:
    """The token store's contract, in a dict."""

    def __init__(self) -> None:
        self.by_hash: dict[str, ApiToken] = {}
        self.by_key: dict[tuple[str, str], ApiToken] = {}

    async def authenticate(self, token: str) -> ApiToken | None:
        record = self.by_hash.get(token_hash(token))
        return record if record is not None and record.revoked_at is None else None

    async def issue(
        self,
        role: str,
        name: str,
        subject: str | None = None,
        *,
        issued_by: str | None = None,
        idempotency_key: str | None = None,
    ) -> IssuedToken:
        scope = (issued_by, idempotency_key)
        if None not in scope and scope in self.by_key:
            record = self.by_key[scope]  # type: ignore[index]
            if (record.role, record.name, record.subject) != (role, name, subject):
                raise TokenKeyReused("this idempotency key was already used for a different token")
            return IssuedToken(record, None, replayed=True)
        token = new_token()
        record = ApiToken(uuid4(), name, role, subject, datetime.now(UTC))
        self.by_hash[token_hash(token)] = record
        if None not in scope:
            self.by_key[scope] = record  # type: ignore[index]
        return IssuedToken(record, token)

    async def list(self, *, include_revoked: bool = False) -> list[ApiToken]:
        return [r for r in self.by_hash.values() if include_revoked or r.revoked_at is None]

    async def revoke(self, token_id: UUID) -> ApiToken | None:
        for digest, record in self.by_hash.items():
            if record.token_id == token_id:
                revoked = (
                    record if record.revoked_at else replace(record, revoked_at=datetime.now(UTC))
                )
                self.by_hash[digest] = revoked
                return revoked
        return None


@dataclass
class FakeDirectory:
    budget_rows: list[dict[str, Any]] = field(default_factory=list)
    supply_row: dict[str, Any] = field(default_factory=lambda: {"minted": 1_000_000})

    async def budgets(self) -> list[dict[str, Any]]:
        return self.budget_rows

    async def supply(self) -> dict[str, Any]:
        return self.supply_row


def national_id(first_twelve: str = "110170023070") -> str:
    """A valid Thai national ID from its first twelve digits."""
    return first_twelve + str(national_id_check_digit(first_twelve))


@dataclass
class Api:
    """An HTTP client of the wallet, and tokens made on the spot."""

    client: httpx.AsyncClient
    app: FastAPI
    container: WalletContainer
    tokens: FakeTokens
    directory: FakeDirectory
    clock: ManualClock
    metrics: WalletMetrics

    async def token(
        self, role: str, subject: str | None = None, name: str | None = None
    ) -> Headers:
        issued = await self.tokens.issue(role, name or f"{role}-{uuid4().hex[:6]}", subject)
        return {"Authorization": f"Bearer {issued.token}"}

    async def post(
        self, path: str, body: Any, headers: Headers, *, key: str | None = None
    ) -> httpx.Response:
        sent = {**headers, "Idempotency-Key": key or uuid4().hex}
        return await self.client.post(path, json=body, headers=sent)

    async def get(self, path: str, headers: Headers) -> httpx.Response:
        return await self.client.get(path, headers=headers)

    @staticmethod
    def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
        """The problem document of an error answer, after checking its RFC 9457 shape."""
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body: dict[str, Any] = response.json()
        assert (body["status"], body["code"]) == (status, code), body
        assert body["type"] == f"urn:kgo:problem:{code}"
        assert body["title"] and body["detail"]
        return body


def wallet_app(container: WalletContainer) -> FastAPI:
    """The app as the bootstrap builds it, minus the runtime."""
    app = FastAPI(**API_METADATA)
    install_error_handlers(app)
    app.include_router(build_router())
    app.state.wallet = container
    return app


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    ledger = WalletLedger()
    metrics = WalletMetrics(Metrics("wallet", CollectorRegistry()))
    bus = CommandBus(ledger, observe=metrics.observe_batch)
    await bus.start()
    vault = PersonalDataVault(seal_key=bytes(range(32)), index_key=bytes(range(32, 64)))
    tokens, directory, clock = FakeTokens(), FakeDirectory(), ManualClock()
    container = WalletContainer(
        settings=WalletSettings(), ledger=ledger, bus=bus, vault=vault,
        directory=directory, tokens=tokens, clock=clock, metrics=metrics,
    )  # fmt: skip
    app = wallet_app(container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wallet") as client:
        yield Api(client, app, container, tokens, directory, clock, metrics)
    await bus.stop()


@dataclass
class City:
    """A funded city: genesis done, a 'welcome' budget of 10,000, one shop, one resident
    holding 1,000 coins, and a token for each role."""

    api: Api
    admin: Headers
    operator: Headers
    auditor: Headers
    service: Headers
    shop_id: str
    shop: Headers
    wallet_id: str
    resident: Headers
    counter: Headers

    async def payment_code(self, resident: Headers | None = None) -> str:
        """A fresh one-time code of the city resident's wallet (or another resident's)."""
        issued = await _created(
            await self.api.post("/v1/payment-codes", None, resident or self.resident)
        )
        return str(issued["code"])

    async def pay(
        self, amount: int, reference: str = "r", *, code: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A spend (or hold) body for the shop, authorised with a fresh payment code."""
        code = code or await self.payment_code()
        return {"payee_id": self.shop_id, "amount": amount, "reference": reference,
                "authorisation": {"kind": "payment_code", "code": code}, **extra}  # fmt: skip


async def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def city(api: Api) -> City:
    admin = await api.token("municipal_admin", name="admin")
    service = await api.token("service", name="missions")
    await _created(await api.post("/v1/treasury/genesis", None, admin))
    await _created(
        await api.post("/v1/budgets", {"programme": "welcome", "label": "Welcome"}, admin)
    )
    await _created(await api.post("/v1/budgets/welcome/allocations", {"amount": 10_000}, admin))
    shop = await _created(
        await api.post(
            "/v1/payees",
            {"kind": "shop", "external_ref": "shop-001", "label": "Som Tam Shop"},
            admin,
        )
    )
    resident = await _created(
        await api.post(
            "/v1/residents", {"national_id": national_id(), "phone": "081-234-5678"}, admin
        )
    )
    wallet_id = resident["wallet_id"]
    await _created(
        await api.post(
            "/v1/grants",
            {
                "programme": "welcome",
                "wallet_id": wallet_id,
                "amount": 1_000,
                "reason": "signup bonus",
                "reference": "signup:1",
            },
            service,
        )
    )
    return City(
        api=api,
        admin=admin,
        service=service,
        operator=await api.token("programme_operator", "welcome"),
        auditor=await api.token("auditor"),
        shop_id=shop["account_id"],
        shop=await api.token("payee", shop["account_id"]),
        wallet_id=wallet_id,
        resident=await api.token("resident", wallet_id),
        counter=await api.token("counter_staff", name="counter-1"),
    )


async def sealed_claim(container: WalletContainer, national_id: str) -> tuple[Any, dict[str, Any]]:
    """The identity claim of a national ID (through the blind-index table) and what it seals,
    opened with its resident's data key."""
    index = container.vault.blind_index("national_id", national_id)
    claim_ref = await container.keys.find_claim(index)
    assert claim_ref is not None
    claim = container.ledger.repository.get(claim_ref)
    data_key = await container.resident_data.data_key(claim.wallet_id)
    assert data_key is not None
    return claim, data_key.unseal("national_id", claim.sealed_personal_data)
