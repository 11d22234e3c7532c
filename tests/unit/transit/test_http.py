"""The transit API over HTTP, wired by the bootstrap around an in-memory store and the fake
wallet: validators tap with their own credentials, administrators shape the network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kgo_runtime.access import AccessSigner, Authenticator, Role
from services.transit.bootstrap import build_api, wire
from services.transit.settings import TransitSettings

from .conftest import MORNING, build_transit

pytestmark = pytest.mark.unit


class Api:
    def __init__(self, client: httpx.AsyncClient, signer: AccessSigner, transit: Any) -> None:
        self.client = client
        self.signer = signer
        self.transit = transit
        self.admin = self.token(Role.MUNICIPAL_ADMIN)
        self.keys = 0

    def token(self, role: Role, subject: str | None = None) -> dict[str, str]:
        issued = self.signer.issue(role, "test", subject, timedelta(minutes=5))
        return {"Authorization": f"Bearer {issued.token}"}

    async def post(
        self, path: str, body: Any, auth: dict[str, str], key: str | None = None
    ) -> httpx.Response:
        self.keys += 1
        headers = auth | {"Idempotency-Key": key or f"key-{self.keys}"}
        return await self.client.post(f"/v1{path}", json=body, headers=headers)

    async def validator(self, validator_id: str, bus_id: str) -> dict[str, str]:
        answer = await self.post(
            "/validators", {"validator_id": validator_id, "bus_id": bus_id}, self.admin
        )
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['credential']}"}

    async def tap(
        self, device: dict[str, str], tap_id: str, pass_token: str, at: Any = MORNING
    ) -> httpx.Response:
        body = {"tap_id": tap_id, "pass": pass_token, "tapped_at": at.isoformat()}
        return await self.post("/taps", body, device, key=tap_id)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    transit = build_transit()
    key = Ed25519PrivateKey.generate()
    signer = AccessSigner(key)
    container = wire(
        TransitSettings(),
        transit.store,
        transit.wallet,
        transit.clock,
        transit.collector.operator_id,
        transit.digest,
    )
    access = Authenticator(verifier=signer.verifier, devices=(container.devices,))
    app = build_api(container, access)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://transit") as client:
        yield Api(client, signer, transit)


async def test_a_validator_taps_and_a_retry_replays(api: Api) -> None:
    device = await api.validator("val-01", "bus-01")
    api.transit.wallet.resident(120, "pass-AAAA1111")
    first = await api.tap(device, "tap-1", "pass-AAAA1111")
    assert first.status_code == 201, first.text
    assert first.json() | {"trip_id": None} == {
        "trip_id": None,
        "tap_id": "tap-1",
        "status": "paid",
        "tapped_at": MORNING.isoformat(),
        "fare_product": "one-baht-bus-2022",
        "coins": 50,
        "baht_satang": 100,
        "campaign": "one-baht-bus-2022",
        "reason": None,
        "shortfall_covered": 0,
        "offline": False,
    }
    again = await api.tap(device, "tap-1", "pass-AAAA1111")
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await api.tap(device, "tap-1", "pass-AAAA1111", MORNING + timedelta(hours=1))
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")


async def test_only_a_validator_credential_may_tap(api: Api) -> None:
    body = {"tap_id": "t", "pass": "pass-AAAA1111", "tapped_at": MORNING.isoformat()}
    service = await api.post("/taps", body, api.token(Role.SERVICE, "merchant"), key="t")
    assert (service.status_code, service.json()["code"]) == (403, "forbidden")
    nobody = await api.post("/taps", body, {"Authorization": "Bearer kgo_val_nope"}, key="t")
    assert nobody.status_code == 401


async def test_tap_needs_its_tap_id_as_key_and_an_aware_time(api: Api) -> None:
    device = await api.validator("val-01", "bus-01")
    body = {"tap_id": "t1", "pass": "pass-AAAA1111", "tapped_at": "2022-06-10T08:40:00"}
    naive = await api.post("/taps", body, device, key="t1")
    assert naive.status_code == 422
    body["tapped_at"] = MORNING.isoformat()
    wrong_key = await api.post("/taps", body, device, key="other")
    assert wrong_key.json()["code"] == "idempotency_key_mismatch"


async def test_a_batch_uploads_and_resends_safely(api: Api) -> None:
    device = await api.validator("val-02", "bus-02")
    rider = api.transit.wallet.resident(200, "pass-BBBB2222")
    taps = [
        {
            "tap_id": f"b{n}",
            "pass": "pass-BBBB2222",
            "tapped_at": (MORNING + timedelta(hours=n)).isoformat(),
        }
        for n in range(3)
    ]
    first = await api.post("/taps/batch", {"taps": taps}, device)
    assert (first.json()["paid"], first.json()["declined"]) == (2, 1)  # the cap: 2 a day
    again = await api.post("/taps/batch", {"taps": taps}, device)
    assert [r["replayed"] for r in again.json()["results"]] == [True, True, True]
    assert api.transit.wallet.balances[rider] == 100


async def test_network_writes_are_idempotent(api: Api) -> None:
    body = {"route_id": "kk-2", "name": "Airport line", "length_km": 12.5}
    first = await api.post("/routes", body, api.admin, key="route-kk-2")
    again = await api.post("/routes", body, api.admin, key="route-kk-2")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await api.post("/routes", body | {"name": "x"}, api.admin, key="route-kk-2")
    assert other.json()["code"] == "idempotency_key_reused"
    exists = await api.post("/routes", body, api.admin)
    assert (exists.status_code, exists.json()["code"]) == (409, "already_exists")
    overlapping = {
        "campaign_id": "again",
        "starts_at": MORNING.isoformat(),
        "ends_at": (MORNING + timedelta(days=1)).isoformat(),
        "coins": 10,
        "baht_satang": 0,
        "programme": "one-baht-bus-2022",
    }
    refused = await api.post("/campaigns", overlapping, api.admin)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_schedule")
    network = await api.client.get("/v1/network", headers=api.admin)
    assert len(network.json()["buses"]) == 10 and network.json()["fare_products"]["student"] == 1000


async def test_statement_deny_list_and_validator_settings(api: Api) -> None:
    device = await api.validator("val-03", "bus-03")
    api.transit.wallet.resident(120, "pass-CCCC3333")
    await api.tap(device, "s1", "pass-CCCC3333")
    await api.tap(device, "s2", "pass-CCCC3333", MORNING + timedelta(minutes=1))
    statement = await api.client.get("/v1/statements/ridership", headers=api.admin)
    (row,) = statement.json()["rows"]
    assert row | {"declines": None} == {
        "route_id": "kk-1",
        "day": "2022-06-10",
        "hour": 8,
        "rides": 1,
        "coin_rides": 1,
        "coins": 50,
        "baht_satang": 100,
        "shortfall_covered": 0,
        "offline_rides": 0,
        "declines": None,
    }
    assert row["declines"] == {"double_tap": 1}
    operator = api.token(Role.PAYEE, str(api.transit.collector.operator_id))
    assert (await api.client.get("/v1/statements/ridership", headers=operator)).status_code == 200
    shop = api.token(Role.PAYEE, str(UUID(int=7)))
    assert (await api.client.get("/v1/statements/ridership", headers=shop)).status_code == 403
    me = await api.client.get("/v1/validators/me", headers=device)
    assert me.json()["bus_id"] == "bus-03" and me.json()["pass_digest_key"]
    deny = await api.client.get("/v1/deny-list", headers=device)
    assert deny.json()["digests"] == []


async def test_settlement_returns_the_operators_coins_once(api: Api) -> None:
    wallet = api.transit.wallet
    wallet.balances[api.transit.collector.operator_id] = 500
    body = {
        "programme": "one-baht-bus-2022",
        "coins": 300,
        "baht_satang": 30_000,
        "payment_reference": "KKC-PV-0001",
    }
    first = await api.post("/settlements", body, api.admin)
    again = await api.post("/settlements", body, api.admin)
    assert first.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert wallet.balances[api.transit.collector.operator_id] == 200
    assert wallet.budgets["one-baht-bus-2022"] == 300
    too_much = await api.post(
        "/settlements", body | {"payment_reference": "KKC-PV-0002"}, api.admin
    )
    assert (too_much.status_code, too_much.json()["code"]) == (409, "insufficient_funds")


async def test_a_rotated_credential_stops_working() -> None:
    from services.transit.adapters.devices import ValidatorDevices

    transit = build_transit()
    _, old, made = transit.admin.register_validator("val-9", "bus-09")
    transit.store.save(*made)
    devices = ValidatorDevices(transit.store, cache_seconds=0)
    principal = await devices(old["credential"])
    assert principal is not None and principal.subject == "val-9"
    _, new, made = transit.admin.rotate_credential("val-9")
    transit.store.save(*made)
    assert await devices(old["credential"]) is None
    assert (await devices(new["credential"])) == principal
    assert await devices("kgo_someone_elses_token") is None


def test_a_tap_is_answered_by_a_plan_of_its_dependencies() -> None:
    """POST /v1/taps takes kgo_runtime.direct_routes.DirectRoute's plan (every dependency
    async, none twice), not FastAPI's solver on every request."""
    from fastapi.routing import APIRoute

    from services.transit.entrypoints.http.routes_taps import router

    (route,) = [r for r in router.routes if isinstance(r, APIRoute) and r.path == "/taps"]
    names = {getattr(c.cell_contents, "__qualname__", "") for c in route.app.__closure__ or ()}
    assert any("DirectRoute" in name for name in names)
