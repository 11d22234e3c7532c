"""Calling the wallet from another service: retries keep the key, tokens are checked at the
wallet once per cache window, and a service's routes know their caller."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI

from kgo_runtime.access import (
    AccessSigner,
    Authenticator,
    Principal,
    Role,
    allow,
)
from kgo_runtime.problems import install_error_handlers
from kgo_runtime.wallet_client import WalletClient, WalletUnavailable

pytestmark = pytest.mark.unit


def _client(handler: Any, **options: Any) -> WalletClient:
    return WalletClient(
        "http://wallet", lambda: "kgo_service", transport=httpx.MockTransport(handler), **options
    )


async def test_a_503_is_retried_with_the_same_idempotency_key() -> None:
    seen: list[tuple[str | None, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers.get("Idempotency-Key"), request.headers["Authorization"]))
        return httpx.Response(503 if len(seen) < 3 else 201, json={"ok": True})

    client = _client(handler)
    answer = await client.post("/v1/spends", {"amount": 1}, idempotency_key="trip-1")
    assert answer.status_code == 201
    assert seen == [("trip-1", "Bearer kgo_service")] * 3


async def test_a_wallet_that_stays_down_is_reported_not_hidden() -> None:
    client = _client(lambda _r: httpx.Response(503), attempts=2)
    with pytest.raises(WalletUnavailable):
        await client.post("/v1/spends", {}, idempotency_key="k")


async def test_no_token_yet_means_unavailable() -> None:
    client = WalletClient("http://wallet", lambda: None)
    with pytest.raises(WalletUnavailable):
        await client.get("/v1/wallets/x")


async def test_introspection_is_cached_for_a_few_seconds() -> None:
    calls = []
    now = [0.0]

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(
            200,
            json={
                "active": True,
                "token_id": "00000000-0000-0000-0000-000000000001",
                "role": "auditor",
                "name": "city-auditor",
                "subject": None,
            },
        )

    introspection = _client(handler).introspection(cache_seconds=5, monotonic=lambda: now[0])
    first = await introspection.principal("kgo_abc")
    assert first is not None and first.role is Role.AUDITOR
    await introspection.principal("kgo_abc")
    now[0] = 6.0
    await introspection.principal("kgo_abc")
    assert calls == ["/v1/tokens/introspect"] * 2


async def test_a_service_route_knows_its_caller_by_either_kind_of_token() -> None:
    signer = AccessSigner(Ed25519PrivateKey.generate())

    async def till(token: str) -> Principal | None:
        if token == "kgo_till_secret":
            return Principal(signer.issue(Role.PAYEE, "t", "s", timedelta(1)).token_id,
                             Role.PAYEE, "till-1", "shop-1")  # fmt: skip
        return None

    app = FastAPI()
    install_error_handlers(app)
    app.state.access = Authenticator(verifier=signer.verifier, devices=(till,))

    @app.get("/who")
    async def who(
        principal: Annotated[Principal, Depends(allow(Role.RESIDENT, Role.PAYEE))],
    ) -> dict[str, Any]:
        return {"role": principal.role, "subject": principal.subject}

    resident = signer.issue(Role.RESIDENT, "resident", "w-1", timedelta(minutes=5)).token
    admin = signer.issue(Role.MUNICIPAL_ADMIN, "a", None, timedelta(minutes=5)).token
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ok = await c.get("/who", headers={"Authorization": f"Bearer {resident}"})
        assert ok.json() == {"role": "resident", "subject": "w-1"}
        device = await c.get("/who", headers={"Authorization": "Bearer kgo_till_secret"})
        assert device.json() == {"role": "payee", "subject": "shop-1"}
        denied = await c.get("/who", headers={"Authorization": f"Bearer {admin}"})
        assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
        for headers in ({}, {"Authorization": "Bearer kgo_unknown"}):
            refused = await c.get("/who", headers=headers)
            assert (refused.status_code, refused.json()["code"]) == (401, "unauthenticated")
