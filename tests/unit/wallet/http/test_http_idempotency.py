"""A retry gets the first answer; a key reused for another request is refused."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.unit


async def payment(
    city: Any, amount: int = 30, reference: str = "till-7:receipt-1", code: str | None = None
) -> dict[str, Any]:
    return await city.pay(amount, reference, code=code)


async def balance(city: Any) -> int:
    response = await city.api.get(f"/v1/wallets/{city.wallet_id}", city.admin)
    return int(response.json()["available"])


async def test_the_same_key_and_body_get_the_first_answer_once(city: Any) -> None:
    body = await payment(city)
    first = await city.api.post("/v1/spends", body, city.service, key="receipt-1")
    again = await city.api.post("/v1/spends", body, city.service, key="receipt-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert await balance(city) == 1_000 - 30


async def test_the_same_key_with_another_body_is_409(city: Any) -> None:
    code = await city.payment_code()
    await city.api.post("/v1/spends", await payment(city, code=code), city.service, key="receipt-1")

    other = await city.api.post(
        "/v1/spends", await payment(city, amount=31, code=code), city.service, key="receipt-1"
    )

    city.api.problem(other, 409, "idempotency_key_reused")
    assert await balance(city) == 1_000 - 30


async def test_keys_are_scoped_per_caller(city: Any) -> None:
    """Two callers (say merchant and transit) may both say "1"."""
    transit = await city.api.token("service", name="transit")
    by_merchant = await city.api.post("/v1/spends", await payment(city), city.service, key="1")
    by_transit = await city.api.post("/v1/spends", await payment(city), transit, key="1")

    assert by_merchant.status_code == by_transit.status_code == 201
    assert by_merchant.json()["movement_id"] != by_transit.json()["movement_id"]
    assert await balance(city) == 1_000 - 60


async def test_a_colon_in_a_token_name_cannot_borrow_another_callers_receipt(city: Any) -> None:
    """Token "a:b" with key "c" and token "a" with key "b:c" once shared one receipt."""
    colon = await city.api.token("service", name="a:b")
    plain = await city.api.token("service", name="a")
    first = await city.api.post("/v1/spends", await payment(city), colon, key="c")
    second = await city.api.post("/v1/spends", await payment(city), plain, key="b:c")

    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert first.json()["movement_id"] != second.json()["movement_id"]
    assert await balance(city) == 1_000 - 60


async def test_a_rotated_token_of_the_same_service_keeps_its_keys(city: Any) -> None:
    body = await payment(city)
    first = await city.api.post("/v1/spends", body, city.service, key="1")
    rotated = await city.api.token("service", name="missions")  # city.service's name

    again = await city.api.post("/v1/spends", body, rotated, key="1")

    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


async def test_a_refusal_is_replayed_as_it_was_first_decided(city: Any) -> None:
    body = await payment(city, 1_500)
    refused = await city.api.post("/v1/spends", body, city.service, key="big")
    grant = {"programme": "welcome", "wallet_id": city.wallet_id, "amount": 1_000,
             "reason": "festival", "reference": "festival:1"}  # fmt: skip
    assert (await city.api.post("/v1/grants", grant, city.service)).status_code == 201

    again = await city.api.post("/v1/spends", body, city.service, key="big")

    first = city.api.problem(refused, 409, "insufficient_funds")
    assert city.api.problem(again, 409, "insufficient_funds") == first
    assert again.headers["idempotent-replayed"] == "true"
    assert await balance(city) == 2_000


async def test_a_registration_retried_finds_the_same_wallet(city: Any) -> None:
    """The sealed data differs on every call (a fresh nonce); the request is the same."""
    body = {"national_id": "3100600181239", "phone": "0612345678", "full_name": "Malee"}

    first = await city.api.post("/v1/residents", body, city.service, key="signup-42")
    again = await city.api.post("/v1/residents", body, city.service, key="signup-42")
    other = await city.api.post(
        "/v1/residents", {**body, "full_name": "Malee S."}, city.service, key="signup-42"
    )

    assert first.status_code == again.status_code == 201
    assert again.json()["wallet_id"] == first.json()["wallet_id"]
    city.api.problem(other, 409, "idempotency_key_reused")


async def test_a_hold_retried_is_the_same_hold(city: Any) -> None:
    body = await payment(city)
    first = await city.api.post("/v1/holds", body, city.service, key="h1")
    again = await city.api.post("/v1/holds", body, city.service, key="h1")

    assert again.json()["hold_id"] == first.json()["hold_id"]
    wallet = (await city.api.get(f"/v1/wallets/{city.wallet_id}", city.resident)).json()
    assert (wallet["available"], wallet["held"], len(wallet["holds"])) == (970, 30, 1)


async def test_a_token_issue_retried_answers_the_same_token_id_without_the_secret(
    city: Any,
) -> None:
    body = {"role": "payee", "name": "till-8", "subject": city.shop_id}

    first = await city.api.post("/v1/tokens", body, city.admin, key="t1")
    again = await city.api.post("/v1/tokens", body, city.admin, key="t1")
    other = await city.api.post("/v1/tokens", {**body, "name": "till-9"}, city.admin, key="t1")

    assert first.status_code == again.status_code == 201
    assert first.json()["token"].startswith("kgo_")
    assert again.json() == {**first.json(), "token": None}
    assert again.headers["idempotent-replayed"] == "true"
    city.api.problem(other, 409, "idempotency_key_reused")
