"""``POST /v1/spends/batch``: many spends in one request (transit's taps of a moment), each
exactly the ``POST /v1/spends`` of its body and key: authorised, refused and replayed on its
own, answered in order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.unit.wallet.http.test_http_consent import balance, bus_operator, fare, second_resident

pytestmark = pytest.mark.unit


async def passes(city: Any) -> tuple[str, str]:
    """A linked pass of the city's resident and one of a second resident (500 coins)."""
    mine = (await city.api.post("/v1/transit-passes", None, city.resident)).json()["pass"]
    _, malee = await second_resident(city)
    hers = (await city.api.post("/v1/transit-passes", None, malee)).json()["pass"]
    return mine, hers


def item(payee: str, token: str, key: str, amount: int = 1) -> dict[str, Any]:
    return fare(payee, token, reference=key) | {"amount": amount, "idempotency_key": key}


async def batch(city: Any, *items: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await city.api.client.post(
        "/v1/spends/batch", json={"spends": list(items)}, headers=city.service
    )
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    assert len(results) == len(items)
    return results


async def test_each_spend_is_decided_on_its_own_and_answered_in_order(city: Any) -> None:
    operator = await bus_operator(city)
    mine, hers = await passes(city)

    results = await batch(
        city,
        item(operator, mine, "tap-1"),
        item(operator, hers, "tap-2", amount=600),  # she has 500
        item(operator, "kgot_guessed-pass", "tap-3"),
        item(city.shop_id, mine, "tap-4"),  # a pass pays the bus only
        item(operator, hers, "tap-5", amount=50),
    )

    assert [r["status"] for r in results] == [201, 409, 409, 409, 201]
    assert results[0]["wallet_id"] == city.wallet_id and results[0]["amount"] == 1
    assert [r["code"] for r in results[1:4]] == [
        "insufficient_funds", "transit_pass_invalid", "transit_pass_invalid",
    ]  # fmt: skip
    assert all(r["detail"] for r in results[1:4])
    assert results[4]["wallet_id"] != city.wallet_id
    assert not any(r["replayed"] for r in results)
    assert await balance(city) == (999, 0)
    assert await balance(city, operator) == (51, 0)


async def test_an_item_is_the_single_spend_of_the_same_key(city: Any) -> None:
    operator = await bus_operator(city)
    mine, _ = await passes(city)
    body = fare(operator, mine, reference="tap-1")
    single = await city.api.post("/v1/spends", body, city.service, key="tap-1")

    first = await batch(city, body | {"idempotency_key": "tap-1"}, item(operator, mine, "tap-2"))
    again = await batch(city, body | {"idempotency_key": "tap-1"}, item(operator, mine, "tap-2"))
    other = await batch(city, body | {"idempotency_key": "tap-1", "amount": 2})
    then_single = await city.api.post(
        "/v1/spends", fare(operator, mine, reference="tap-2"), city.service, key="tap-2"
    )

    assert first[0]["movement_id"] == single.json()["movement_id"] and first[0]["replayed"]
    assert again == [first[0], first[1] | {"replayed": True}]
    assert other[0]["status"] == 409 and other[0]["code"] == "idempotency_key_reused"
    assert then_single.status_code == 201
    assert then_single.json()["movement_id"] == first[1]["movement_id"]
    assert await balance(city, operator) == (2, 0)


async def test_a_batch_is_refused_whole_only_when_malformed(city: Any) -> None:
    operator = await bus_operator(city)
    mine, _ = await passes(city)
    one = item(operator, mine, "k")

    cases = {
        "empty": {"spends": []},
        "too many": {"spends": [item(operator, mine, f"k{n}") for n in range(101)]},
        "a key twice": {"spends": [one, one]},
        "no key": {"spends": [fare(operator, mine)]},
        "a bad key": {"spends": [one | {"idempotency_key": "has space"}]},
        "a fractional amount": {"spends": [one | {"amount": 1.5}]},
        "an unknown field": {"spends": [one], "extra": 1},
        "a card and its PIN": {
            "spends": [
                one
                | {
                    "authorisation": {
                        "kind": "card",
                        "card_number": "4821390755120034",
                        "pin": "2580",
                    }
                }
            ]
        },
    }
    for name, body in cases.items():
        answer = await city.api.client.post("/v1/spends/batch", json=body, headers=city.service)
        city.api.problem(answer, 422, "invalid_request"), name

    assert await balance(city, operator) == (0, 0)


async def test_only_a_service_sends_a_batch(city: Any) -> None:
    operator = await bus_operator(city)
    mine, _ = await passes(city)
    body = {"spends": [item(operator, mine, "k")]}

    none = await city.api.client.post("/v1/spends/batch", json=body)
    resident = await city.api.client.post("/v1/spends/batch", json=body, headers=city.resident)
    text = await city.api.client.post(
        "/v1/spends/batch", content="x", headers={**city.service, "Content-Type": "text/plain"}
    )

    city.api.problem(none, 401, "unauthenticated")
    city.api.problem(resident, 403, "forbidden")
    city.api.problem(text, 415, "unsupported_media_type")


async def test_a_spend_not_decided_answers_503_in_its_place_and_the_rest_go_on(
    city: Any, outage_of: Any
) -> None:
    operator = await bus_operator(city)
    mine, hers = await passes(city)
    outage = outage_of(city.api.container.ledger, UUID(city.wallet_id))

    results = await batch(city, item(operator, hers, "tap-1"), item(operator, mine, "tap-2"))
    outage.down = False
    retried = await batch(city, item(operator, hers, "tap-1"), item(operator, mine, "tap-2"))

    # One batch of the ledger holds both: the store failing for one fails the transaction.
    assert {r["status"] for r in results} <= {201, 503}
    assert [r["code"] for r in results if r["status"] == 503] and all(
        r["code"] == "store_unavailable" for r in results if r["status"] == 503
    )
    assert [r["status"] for r in retried] == [201, 201]
    assert await balance(city) == (999, 0)
    assert await balance(city, operator) == (2, 0)


async def test_a_spend_that_fails_on_a_bug_answers_500_in_its_place(
    city: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.wallet.entrypoints.http import routes_payments

    operator = await bus_operator(city)
    mine, hers = await passes(city)
    real = routes_payments.authorisation_of

    async def failing(body: Any, wallet: Any) -> Any:
        if body.pass_token == hers:
            raise RuntimeError("a bug")
        return await real(body, wallet)

    monkeypatch.setattr(routes_payments, "authorisation_of", failing)
    results = await batch(city, item(operator, hers, "tap-1"), item(operator, mine, "tap-2"))

    assert [r["status"] for r in results] == [500, 201]
    assert results[0]["code"] == "internal_error"
