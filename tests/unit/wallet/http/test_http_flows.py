"""The wallet's story told over HTTP: treasury, budgets, grants, spends and holds."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

pytestmark = pytest.mark.unit


async def account(city: Any, account_id: str) -> dict[str, Any]:
    response = await city.api.get(f"/v1/wallets/{account_id}", city.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_supply_is_minted_once(city: Any) -> None:
    again = await city.api.post("/v1/treasury/genesis", None, city.admin)
    city.api.problem(again, 409, "already_minted")


async def test_a_budget_is_read_from_the_ledger(city: Any) -> None:
    budget = (await city.api.get("/v1/budgets/welcome", city.auditor)).json()
    assert (budget["programme"], budget["label"], budget["available"]) == (
        "welcome",
        "Welcome",
        9_000,
    )
    missing = await city.api.get("/v1/budgets/festival", city.auditor)
    city.api.problem(missing, 404, "budget_not_found")


async def test_supply_and_budget_lists_come_from_the_directory(city: Any) -> None:
    city.api.directory.supply_row = {"minted": 1_000_000, "municipality": 990_000}
    supply = await city.api.get("/v1/treasury/supply", city.auditor)
    assert supply.json() == {"minted": 1_000_000, "municipality": 990_000}


async def test_coins_go_back_from_a_budget_to_the_municipality(city: Any) -> None:
    back = await city.api.post(
        "/v1/budgets/welcome/returns", {"amount": 4_000, "memo": "end"}, city.admin
    )
    too_much = await city.api.post("/v1/budgets/welcome/returns", {"amount": 5_001}, city.admin)

    assert back.status_code == 201
    assert back.json()["budget"]["available"] == 5_000
    city.api.problem(too_much, 409, "insufficient_funds")


async def test_an_exhausted_budget_refuses_the_grant_and_says_so(city: Any) -> None:
    grant = {"programme": "welcome", "wallet_id": city.wallet_id, "amount": 9_001,
             "reason": "festival", "reference": "festival:1"}  # fmt: skip
    refused = await city.api.post("/v1/grants", grant, city.service)
    problem = city.api.problem(refused, 409, "budget_exhausted")
    assert problem["movement_id"]  # the recorded refusal, for the caller to reconcile


async def test_a_grant_to_no_wallet_is_404(city: Any) -> None:
    grant = {"programme": "welcome", "wallet_id": str(uuid4()), "amount": 1,
             "reason": "r", "reference": "r"}  # fmt: skip
    city.api.problem(
        await city.api.post("/v1/grants", grant, city.service), 404, "account_not_found"
    )
    missing = await city.api.get(f"/v1/wallets/{uuid4()}", city.admin)
    city.api.problem(missing, 404, "wallet_not_found")


async def test_a_spend_moves_coins_to_the_shop(city: Any) -> None:
    spent = await city.api.post("/v1/spends", await city.pay(250, "receipt-9"), city.service)
    too_much = await city.api.post("/v1/spends", await city.pay(751), city.service)

    assert spent.status_code == 201
    assert spent.json() == {"movement_id": spent.json()["movement_id"],
                            "wallet_id": city.wallet_id, "amount": 250}  # fmt: skip
    city.api.problem(too_much, 409, "insufficient_funds")
    assert (await account(city, city.wallet_id))["available"] == 750
    assert (await account(city, city.shop_id))["available"] == 250


async def test_a_hold_is_captured_in_part_and_the_rest_comes_back(city: Any) -> None:
    before = city.api.clock.now()
    placed = await city.api.post("/v1/holds", await city.pay(100, "bill-1"), city.service)
    assert placed.json()["wallet_id"] == city.wallet_id
    hold_id = placed.json()["hold_id"]
    wallet = await account(city, city.wallet_id)
    assert (wallet["available"], wallet["held"]) == (900, 100)
    [hold] = wallet["holds"]
    assert (hold["hold_id"], hold["amount"], hold["payee_id"]) == (hold_id, 100, city.shop_id)
    expires = datetime.fromisoformat(hold["expires_at"])
    assert timedelta(seconds=299) < expires - before < timedelta(seconds=302)  # the default ttl

    captured = await city.api.post(
        f"/v1/wallets/{city.wallet_id}/holds/{hold_id}/capture",
        {"payee_id": city.shop_id, "amount": 60}, city.service,
    )  # fmt: skip

    assert captured.status_code == 200 and captured.json()["captured"] == 60
    assert "wallet" not in captured.json()
    wallet = await account(city, city.wallet_id)
    assert (wallet["available"], wallet["held"], wallet["holds"]) == (940, 0, [])
    assert (await account(city, city.shop_id))["available"] == 60


async def test_a_released_hold_gives_every_coin_back(city: Any) -> None:
    placed = await city.api.post("/v1/holds", await city.pay(100, ttl_seconds=60), city.service)
    path = f"/v1/wallets/{city.wallet_id}/holds/{placed.json()['hold_id']}"

    released = await city.api.post(f"{path}/release", None, city.service)
    again = await city.api.post(f"{path}/capture", {"payee_id": city.shop_id}, city.service)

    assert released.status_code == 200 and released.json()["released"] == 100
    city.api.problem(again, 404, "hold_not_found")
    assert (await account(city, city.wallet_id))["available"] == 1_000


async def test_100_concurrent_spends_of_50_against_1000_coins_let_exactly_20_through(
    city: Any,
) -> None:
    codes = [await city.payment_code() for _ in range(100)]

    async def spend(n: int) -> httpx.Response:
        body = await city.pay(50, f"tap-{n}", code=codes[n])
        return await city.api.post("/v1/spends", body, city.service)

    answers = await asyncio.gather(*(spend(n) for n in range(100)))

    statuses = sorted(response.status_code for response in answers)
    assert statuses == [201] * 20 + [409] * 80
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"insufficient_funds"}
    wallet, shop = await account(city, city.wallet_id), await account(city, city.shop_id)
    assert (wallet["available"], wallet["held"], shop["available"]) == (0, 0, 1_000)


async def test_a_wallet_not_yet_built_answers_503(city: Any) -> None:
    del city.api.app.state.wallet
    response = await city.api.get("/v1/treasury/supply", city.admin)
    city.api.problem(response, 503, "not_ready")
    assert response.headers["retry-after"] == "1"


async def test_a_store_that_cannot_be_reached_answers_503_and_the_retry_is_safe(
    city: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsourcing.persistence import OperationalError

    events = city.api.container.ledger.events
    real_put = events.put

    def down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    body = await city.pay(100, "bill-503")
    monkeypatch.setattr(events, "put", down)
    refused = await city.api.post("/v1/spends", body, city.service, key="till-503")
    city.api.problem(refused, 503, "store_unavailable")
    assert refused.headers["Retry-After"] == "1"
    monkeypatch.setattr(events, "put", real_put)
    retried = await city.api.post("/v1/spends", body, city.service, key="till-503")
    assert retried.status_code == 201, retried.text
    assert (await account(city, city.wallet_id))["available"] == 900
