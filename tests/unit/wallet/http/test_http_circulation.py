"""Circulation over HTTP: the merchant and transit services (role service) refund, reward,
settle and cover shortfalls; every other role is refused; answers carry no balance; a retry
with the same key is the first answer."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api, City, Headers, _created

pytestmark = pytest.mark.unit


async def _open(api: Api, admin: Headers, programme: str, amount: int) -> None:
    await _created(await api.post("/v1/budgets", {"programme": programme, "label": "x"}, admin))
    await _created(
        await api.post(f"/v1/budgets/{programme}/allocations", {"amount": amount}, admin)
    )


@pytest.fixture
async def town(city: City) -> dict[str, Any]:
    """The city, after the resident paid the shop 300 and the bus 50."""
    api = city.api
    bus = await _created(
        await api.post(
            "/v1/payees", {"kind": "operator", "external_ref": "bus", "label": "Bus"}, city.admin
        )
    )
    await _open(api, city.admin, "shop-matching", 100)
    await _open(api, city.admin, "offline-loss", 100)
    for payee, amount in ((city.shop_id, 300), (bus["account_id"], 50)):
        body = await city.pay(amount, payee_id=payee)
        await _created(await api.post("/v1/spends", body, city.service))
    return {"bus": bus["account_id"]}


async def balance(city: City, account_id: str) -> int:
    response = await city.api.get(f"/v1/wallets/{account_id}", city.admin)
    available: int = response.json()["available"]
    return available


def requests(city: City, bus: str) -> dict[str, dict[str, Any]]:
    return {
        "/v1/refunds": {
            "payee_id": city.shop_id, "wallet_id": city.wallet_id, "amount": 20,
            "reference": "redemption-7",
        },
        "/v1/rewards": {
            "payee_id": city.shop_id, "wallet_id": city.wallet_id, "amount": 5,
            "reference": "loyalty-1",
        },
        "/v1/settlements": {
            "payee_id": city.shop_id, "amount": 100, "programme": "welcome",
            "baht_satang": 10_000, "payment_reference": "KTB-001",
        },
        "/v1/shortfalls": {
            "payee_id": bus, "wallet_id": city.wallet_id, "amount": 30, "reference": "trip-1",
        },
    }  # fmt: skip


async def test_each_movement_is_201_with_a_movement_id_and_no_balance(
    city: City, town: dict[str, Any]
) -> None:
    for path, body in requests(city, town["bus"]).items():
        answer = await _created(await city.api.post(path, body, city.service))
        assert "movement_id" in answer, path
        assert not {"wallet", "available", "held", "balance"} & set(answer), (path, answer)
    assert await balance(city, city.shop_id) == 300 - 20 - 5 - 100
    assert await balance(city, city.wallet_id) == 1_000 - 350 + 20 + 5
    assert await balance(city, town["bus"]) == 50 + 30


@pytest.mark.parametrize(
    "path", ["/v1/refunds", "/v1/rewards", "/v1/settlements", "/v1/shortfalls"]
)
@pytest.mark.parametrize("role", ["municipal_admin", "programme_operator", "auditor"])
async def test_only_a_service_may_move_circulating_coins(
    city: City, town: dict[str, Any], path: str, role: str
) -> None:
    headers = await city.api.token(role)
    body = requests(city, town["bus"])[path]
    city.api.problem(await city.api.post(path, body, headers), 403, "forbidden")


@pytest.mark.parametrize("path", ["/v1/refunds", "/v1/rewards", "/v1/settlements"])
async def test_a_payee_token_cannot_move_its_own_coins_either(
    city: City, town: dict[str, Any], path: str
) -> None:
    body = requests(city, town["bus"])[path]
    city.api.problem(await city.api.post(path, body, city.shop), 403, "forbidden")
    city.api.problem(await city.api.post(path, body, city.resident), 403, "forbidden")


async def test_a_retry_is_the_first_answer_and_another_body_is_refused(
    city: City, town: dict[str, Any]
) -> None:
    body = requests(city, town["bus"])["/v1/refunds"]
    first = await city.api.post("/v1/refunds", body, city.service, key="void-redemption-7")
    again = await city.api.post("/v1/refunds", body, city.service, key="void-redemption-7")
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await balance(city, city.shop_id) == 280
    other = await city.api.post(
        "/v1/refunds", body | {"amount": 21}, city.service, key="void-redemption-7"
    )
    city.api.problem(other, 409, "idempotency_key_reused")


async def test_refusals_tell_no_balance(city: City, town: dict[str, Any]) -> None:
    refund = requests(city, town["bus"])["/v1/refunds"] | {"amount": 301}
    problem = city.api.problem(
        await city.api.post("/v1/refunds", refund, city.service), 409, "insufficient_funds"
    )
    assert "300" not in problem["detail"]
    shortfall = requests(city, town["bus"])["/v1/shortfalls"] | {"amount": 101}
    problem = city.api.problem(
        await city.api.post("/v1/shortfalls", shortfall, city.service), 409, "budget_exhausted"
    )
    assert "100" not in problem["detail"]


async def test_a_matching_reward_is_a_grant_refused_when_the_budget_is_empty(
    city: City, town: dict[str, Any]
) -> None:
    body = {"wallet_id": city.wallet_id, "amount": 60, "programme": "shop-matching"}
    await _created(await city.api.post("/v1/rewards", body | {"reference": "m1"}, city.service))
    refused = await city.api.post("/v1/rewards", body | {"reference": "m2"}, city.service)
    assert city.api.problem(refused, 409, "budget_exhausted")["movement_id"]


async def test_a_shortfall_defaults_to_the_offline_loss_budget(
    city: City, town: dict[str, Any]
) -> None:
    body = requests(city, town["bus"])["/v1/shortfalls"]
    assert "programme" not in body
    await _created(await city.api.post("/v1/shortfalls", body, city.service))
    budget = (await city.api.get("/v1/budgets/offline-loss", city.admin)).json()
    assert budget["available"] == 70


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("/v1/rewards", {"programme": "shop-matching"}),  # two sources
        ("/v1/rewards", {"payee_id": None}),  # none
        ("/v1/settlements", {"baht_satang": -1}),
        ("/v1/settlements", {"baht_satang": 1.5}),
        ("/v1/refunds", {"amount": 0}),
        ("/v1/shortfalls", {"programme": "Not A Slug"}),
        ("/v1/refunds", {"shop_balance": 5}),
    ],
)
async def test_bodies_are_checked_at_the_edge(
    city: City, town: dict[str, Any], path: str, change: dict[str, Any]
) -> None:
    body = requests(city, town["bus"])[path] | change
    city.api.problem(await city.api.post(path, body, city.service), 422, "invalid_request")
