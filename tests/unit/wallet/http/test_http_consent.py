"""Coins leave a resident's wallet only with that resident's authorisation.

The merchant service (token role ``service``) brings the resident's payment code, card and
PIN, or transit pass; the wallet resolves whose wallet pays from it and consumes it with the
payment. A shop cannot debit a wallet without a valid code, with an expired one, with
another resident's, or twice with the same one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest

from tests.unit.wallet.http.conftest import national_id

pytestmark = pytest.mark.unit


async def balance(city: Any, account_id: str | None = None) -> tuple[int, int]:
    response = await city.api.get(f"/v1/wallets/{account_id or city.wallet_id}", city.admin)
    assert response.status_code == 200, response.text
    return response.json()["available"], response.json()["held"]


async def second_resident(city: Any, coins: int = 500) -> tuple[str, dict[str, str]]:
    """Another resident (Malee) with ``coins`` granted, and her token."""
    registered = await city.api.post(
        "/v1/residents", {"national_id": national_id("310060018123"), "phone": "0612345678"},
        city.admin,
    )  # fmt: skip
    wallet_id = registered.json()["wallet_id"]
    grant = {"programme": "welcome", "wallet_id": wallet_id, "amount": coins, "reason": "r",
             "reference": f"grant:{wallet_id}"}  # fmt: skip
    assert (await city.api.post("/v1/grants", grant, city.service)).status_code == 201
    return wallet_id, await city.api.token("resident", wallet_id)


def misses(city: Any, kind: str) -> float:
    value = city.api.metrics.authorisation_misses.labels(kind)._value.get()
    return float(value)


# --- payment codes ---------------------------------------------------------------------------


async def test_a_payment_code_is_8_digits_for_two_minutes_bound_to_the_wallet(city: Any) -> None:
    issued = await city.api.post("/v1/payment-codes", None, city.resident)

    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["code"].isdigit() and len(body["code"]) == 8
    assert body["qr_payload"] == f"kgo:pay:{body['code']}"
    assert body["wallet_id"] == city.wallet_id
    lifetime = datetime.fromisoformat(body["expires_at"]) - city.api.clock.now()
    assert lifetime.total_seconds() == 120


async def test_a_code_pays_once_from_its_wallet(city: Any) -> None:
    code = await city.payment_code()

    paid = await city.api.post("/v1/spends", await city.pay(100, code=code), city.service)
    again = await city.api.post("/v1/spends", await city.pay(100, code=code), city.service)
    as_hold = await city.api.post("/v1/holds", await city.pay(100, code=code), city.service)

    assert paid.status_code == 201 and paid.json()["wallet_id"] == city.wallet_id
    city.api.problem(again, 409, "payment_code_used")
    city.api.problem(as_hold, 409, "payment_code_used")
    assert await balance(city) == (900, 0)


async def test_a_retry_with_the_same_key_is_the_first_answer_not_a_reuse(city: Any) -> None:
    body = await city.pay(100)
    first = await city.api.post("/v1/spends", body, city.service, key="till-1:42")
    again = await city.api.post("/v1/spends", body, city.service, key="till-1:42")

    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await balance(city) == (900, 0)


async def test_an_expired_code_is_refused(city: Any) -> None:
    code = await city.payment_code()
    city.api.clock.advance(seconds=120)

    refused = await city.api.post("/v1/spends", await city.pay(10, code=code), city.service)

    city.api.problem(refused, 409, "payment_code_expired")
    assert await balance(city) == (1_000, 0)


async def test_a_code_just_inside_its_two_minutes_pays(city: Any) -> None:
    code = await city.payment_code()
    city.api.clock.advance(seconds=119)
    paid = await city.api.post("/v1/spends", await city.pay(10, code=code), city.service)
    assert paid.status_code == 201, paid.text


async def test_a_guessed_code_is_refused_and_counted(city: Any) -> None:
    await city.payment_code()  # a live code exists; the guess is not it
    before = misses(city, "payment_code")
    guesses = [f"{n:08d}" for n in range(10)]
    for guess in guesses:
        answer = await city.api.post("/v1/spends", await city.pay(10, code=guess), city.service)
        if answer.status_code != 409 or answer.json()["code"] != "payment_code_invalid":
            pytest.skip("the drawn code happened to be one of the guesses")  # 1 in 10^7
    assert misses(city, "payment_code") == before + len(guesses)
    assert await balance(city) == (1_000, 0)


async def test_another_residents_code_pays_only_from_her_wallet(city: Any) -> None:
    """The shop wants to charge Somchai (city.wallet_id) but holds Malee's code: naming
    Somchai's wallet is refused, and without a wallet the coins come from Malee only."""
    malee, malee_token = await second_resident(city)
    code = await city.payment_code(malee_token)

    named = await city.api.post(
        "/v1/spends", await city.pay(50, code=code, wallet_id=city.wallet_id), city.service
    )
    city.api.problem(named, 409, "payment_code_invalid")

    paid = await city.api.post("/v1/spends", await city.pay(50, code=code), city.service)
    assert paid.status_code == 201 and paid.json()["wallet_id"] == malee
    assert await balance(city) == (1_000, 0)
    assert await balance(city, malee) == (450, 0)


async def test_a_spend_without_authorisation_is_422(city: Any) -> None:
    body = {"wallet_id": city.wallet_id, "payee_id": city.shop_id, "amount": 5, "reference": "r"}
    for path in ("/v1/spends", "/v1/holds"):
        problem = city.api.problem(
            await city.api.post(path, body, city.service), 422, "invalid_request"
        )
        assert ["body", "authorisation"] in [e["loc"] for e in problem["errors"]]


@pytest.mark.parametrize(
    "authorisation",
    [
        {"kind": "payment_code", "code": "1234567"},
        {"kind": "payment_code", "code": "12345678x"},
        {"kind": "payment_code"},
        {"kind": "card", "card_number": "1234", "pin": "1234"},
        {"kind": "card", "card_number": "1234567890123456", "pin": "12"},
        {"kind": "transit_pass", "pass": "x"},
        {"kind": "cash"},
        "12345678",
    ],
)
async def test_a_malformed_authorisation_is_422(city: Any, authorisation: Any) -> None:
    body = {"payee_id": city.shop_id, "amount": 5, "reference": "r",
            "authorisation": authorisation}  # fmt: skip
    response = await city.api.post("/v1/spends", body, city.service)
    city.api.problem(response, 422, "invalid_request")


async def test_a_hold_consumes_the_code_and_a_refused_one_does_not(city: Any) -> None:
    code = await city.payment_code()
    too_much = await city.api.post("/v1/holds", await city.pay(5_000, code=code), city.service)
    city.api.problem(too_much, 409, "insufficient_funds")

    placed = await city.api.post("/v1/holds", await city.pay(300, code=code), city.service)
    again = await city.api.post("/v1/spends", await city.pay(1, code=code), city.service)

    assert placed.status_code == 201 and placed.json()["wallet_id"] == city.wallet_id
    city.api.problem(again, 409, "payment_code_used")
    assert await balance(city) == (700, 300)


async def test_a_payment_code_is_for_residents_only(city: Any) -> None:
    for headers in (city.shop, city.service, city.admin):
        response = await city.api.post("/v1/payment-codes", None, headers)
        city.api.problem(response, 403, "forbidden")


# --- receive codes ---------------------------------------------------------------------------


async def test_a_receive_code_names_the_wallet_and_pays_nothing(city: Any) -> None:
    issued = await city.api.post("/v1/receive-codes", None, city.resident)
    code = issued.json()["code"]

    resolved = await city.api.post("/v1/receive-codes/resolve", {"code": code}, city.service)
    as_payment = await city.api.post("/v1/spends", await city.pay(5, code=code), city.service)

    assert issued.status_code == 201 and resolved.json() == {"wallet_id": city.wallet_id}
    city.api.problem(as_payment, 409, "payment_code_invalid")
    city.api.clock.advance(seconds=300)
    expired = await city.api.post("/v1/receive-codes/resolve", {"code": code}, city.service)
    city.api.problem(expired, 404, "receive_code_invalid")
    shop_resolve = await city.api.post("/v1/receive-codes/resolve", {"code": code}, city.shop)
    city.api.problem(shop_resolve, 403, "forbidden")


async def test_a_payment_code_does_not_resolve_as_a_receive_code(city: Any) -> None:
    code = await city.payment_code()
    answer = await city.api.post("/v1/receive-codes/resolve", {"code": code}, city.service)
    city.api.problem(answer, 404, "receive_code_invalid")
    assert misses(city, "receive_code") == 1


# --- cards -----------------------------------------------------------------------------------


async def issue_card(city: Any, pin: str = "2580") -> str:
    issued = await city.api.post(f"/v1/wallets/{city.wallet_id}/cards", {"pin": pin}, city.counter)
    assert issued.status_code == 201, issued.text
    assert issued.json()["wallet_id"] == city.wallet_id
    return str(issued.json()["card_number"])


def card(city: Any, number: str, pin: str, amount: int = 10, **extra: Any) -> dict[str, Any]:
    authorisation = {"kind": "card", "card_number": number, "pin": pin}
    return {"payee_id": city.shop_id, "amount": amount, "reference": "r",
            "authorisation": authorisation, **extra}  # fmt: skip


async def test_a_card_pays_with_its_pin(city: Any) -> None:
    number = await issue_card(city)
    typed = f"{number[:4]} {number[4:8]} {number[8:12]} {number[12:]}"

    paid = await city.api.post("/v1/spends", card(city, typed, "2580", 40), city.service)
    again = await city.api.post("/v1/spends", card(city, number, "2580", 60), city.service)

    assert paid.status_code == again.status_code == 201
    assert paid.json()["wallet_id"] == city.wallet_id
    assert await balance(city) == (900, 0)


async def test_five_wrong_pins_lock_the_card(city: Any) -> None:
    number = await issue_card(city)
    answers = [
        await city.api.post("/v1/spends", card(city, number, "0000"), city.service)
        for _ in range(5)
    ]
    right_pin = await city.api.post("/v1/spends", card(city, number, "2580"), city.service)

    for left, answer in zip((4, 3, 2, 1), answers[:4], strict=True):
        assert city.api.problem(answer, 409, "pin_incorrect")["attempts_left"] == left
    city.api.problem(answers[4], 423, "card_locked")
    city.api.problem(right_pin, 423, "card_locked")
    assert await balance(city) == (1_000, 0)
    assert misses(city, "pin") == 4  # the fifth answers card_locked


async def test_a_right_pin_resets_the_count_of_wrong_ones(city: Any) -> None:
    number = await issue_card(city)
    for _ in range(4):
        await city.api.post("/v1/spends", card(city, number, "1111"), city.service)
    assert (await city.api.post("/v1/spends", card(city, number, "2580"), city.service)).is_success
    wrong = await city.api.post("/v1/spends", card(city, number, "1111"), city.service)
    assert city.api.problem(wrong, 409, "pin_incorrect")["attempts_left"] == 4


async def test_a_retried_wrong_pin_is_one_attempt_and_a_new_pin_needs_a_new_key(
    city: Any,
) -> None:
    """The same key and the same wrong PIN replay the first answer; the same key with another
    PIN is a different request (409), right PIN or not: a retry is no PIN oracle."""
    number = await issue_card(city)
    first = await city.api.post("/v1/spends", card(city, number, "1111"), city.service, key="k")
    again = await city.api.post("/v1/spends", card(city, number, "1111"), city.service, key="k")
    right = await city.api.post("/v1/spends", card(city, number, "2580"), city.service, key="k")
    other = await city.api.post("/v1/spends", card(city, number, "3333"), city.service, key="k")

    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    city.api.problem(right, 409, "idempotency_key_reused")
    city.api.problem(other, 409, "idempotency_key_reused")
    fresh = await city.api.post("/v1/spends", card(city, number, "1111"), city.service)
    assert city.api.problem(fresh, 409, "pin_incorrect")["attempts_left"] == 3


async def test_an_unknown_card_is_refused_and_counted(city: Any) -> None:
    response = await city.api.post(
        "/v1/spends", card(city, "1234567890123456", "2580"), city.service
    )
    city.api.problem(response, 409, "card_invalid")
    assert misses(city, "card") == 1


async def test_a_card_is_printed_by_a_counter_for_a_residents_wallet_only(city: Any) -> None:
    for headers in (city.resident, city.service, city.shop):
        refused = await city.api.post(
            f"/v1/wallets/{city.wallet_id}/cards", {"pin": "2580"}, headers
        )
        city.api.problem(refused, 403, "forbidden")
    shop = await city.api.post(f"/v1/wallets/{city.shop_id}/cards", {"pin": "2580"}, city.admin)
    city.api.problem(shop, 422, "wrong_account_kind")
    nobody = await city.api.post(f"/v1/wallets/{uuid4()}/cards", {"pin": "2580"}, city.counter)
    city.api.problem(nobody, 404, "account_not_found")


async def test_a_card_number_resolves_for_receiving(city: Any) -> None:
    number = await issue_card(city)
    resolved = await city.api.post(
        "/v1/receive-codes/resolve", {"card_number": number}, city.service
    )
    assert resolved.json() == {"wallet_id": city.wallet_id}


# --- transit passes --------------------------------------------------------------------------


async def bus_operator(city: Any) -> str:
    opened = await city.api.post(
        "/v1/payees", {"kind": "operator", "external_ref": "kk-bus", "label": "Khon Kaen Bus"},
        city.service,
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    return str(opened.json()["account_id"])


def fare(payee_id: str, token: str, reference: str = "tap-1") -> dict[str, Any]:
    return {"payee_id": payee_id, "amount": 1, "reference": reference,
            "authorisation": {"kind": "transit_pass", "pass": token}}  # fmt: skip


async def test_a_transit_pass_pays_fares_to_the_operator_only(city: Any) -> None:
    operator = await bus_operator(city)
    linked = await city.api.post("/v1/transit-passes", None, city.resident)
    token = linked.json()["pass"]

    fares = [
        await city.api.post("/v1/spends", fare(operator, token, f"tap-{n}"), city.service)
        for n in range(3)
    ]
    at_shop = await city.api.post("/v1/spends", fare(city.shop_id, token), city.service)

    assert linked.status_code == 201 and linked.json()["wallet_id"] == city.wallet_id
    assert [f.status_code for f in fares] == [201, 201, 201]
    city.api.problem(at_shop, 409, "transit_pass_invalid")
    assert await balance(city) == (997, 0)
    assert await balance(city, operator) == (3, 0)


async def test_an_unlinked_pass_rides_no_more(city: Any) -> None:
    operator = await bus_operator(city)
    token = (await city.api.post("/v1/transit-passes", None, city.resident)).json()["pass"]
    _, malee_token = await second_resident(city)

    hers = await city.api.client.delete(
        f"/v1/transit-passes/{token}", headers={**malee_token, "Idempotency-Key": "u1"}
    )
    unlinked = await city.api.client.delete(
        f"/v1/transit-passes/{token}", headers={**city.resident, "Idempotency-Key": "u2"}
    )
    ride = await city.api.post("/v1/spends", fare(operator, token), city.service)

    city.api.problem(hers, 404, "transit_pass_invalid")
    assert unlinked.status_code == 200, unlinked.text
    city.api.problem(ride, 409, "transit_pass_invalid")


async def test_a_card_rides_the_bus_without_its_pin(city: Any) -> None:
    operator = await bus_operator(city)
    number = await issue_card(city)
    ride = await city.api.post("/v1/spends", fare(operator, number), city.service)
    at_shop = await city.api.post("/v1/spends", fare(city.shop_id, number), city.service)
    guessed = await city.api.post("/v1/spends", fare(operator, "kgot_guessed-pass"), city.service)

    assert ride.status_code == 201 and ride.json()["wallet_id"] == city.wallet_id
    city.api.problem(at_shop, 409, "transit_pass_invalid")
    city.api.problem(guessed, 409, "transit_pass_invalid")


# --- the secrets stay out of the store -------------------------------------------------------


async def test_no_code_card_number_or_pin_is_stored_in_plain(city: Any) -> None:
    code = await city.payment_code()
    number = await issue_card(city, pin="917364")
    token = (await city.api.post("/v1/transit-passes", None, city.resident)).json()["pass"]
    await city.api.post("/v1/spends", await city.pay(5, code=code), city.service)

    recorder = city.api.container.ledger.recorder
    stored = b"".join(n.state for n in recorder.select_notifications(1, 10_000))
    for secret in (code, number, token):
        assert secret.encode() not in stored
    [card] = [a for a in _aggregates(city) if type(a).__name__ == "Card"]
    assert card.pin_hash != "917364" and len(card.pin_hash) == 64


def _aggregates(city: Any) -> list[Any]:
    ledger = city.api.container.ledger
    ids = {n.originator_id for n in ledger.recorder.select_notifications(1, 10_000)}
    return [ledger.repository.get(i) for i in ids]


async def test_a_drawn_code_equal_to_a_live_one_is_drawn_again_and_a_retry_keeps_it(
    city: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.wallet.entrypoints.http import routes_consent

    # The retry draws afresh too (two draws), and gets the first answer all the same.
    draws = iter(["11112222", "11112222", "33334444", "55556666", "77778888"])
    monkeypatch.setattr(routes_consent, "draw_code", lambda: next(draws))
    _, malee_token = await second_resident(city)

    mine = await city.api.post("/v1/payment-codes", None, city.resident)
    hers = await city.api.post("/v1/payment-codes", None, malee_token, key="phone-1")
    again = await city.api.post("/v1/payment-codes", None, malee_token, key="phone-1")

    assert mine.json()["code"] == "11112222"
    assert hers.json()["code"] == "33334444"
    assert again.json() == hers.json() and again.headers["idempotent-replayed"] == "true"


async def test_a_scanned_qr_payload_pays_like_its_code(city: Any) -> None:
    issued = (await city.api.post("/v1/payment-codes", None, city.resident)).json()
    body = await city.pay(10, code="x")
    body["authorisation"]["code"] = issued["qr_payload"]
    paid = await city.api.post("/v1/spends", body, city.service)
    assert paid.status_code == 201, paid.text


async def test_two_tills_racing_with_one_code_take_it_once(city: Any) -> None:
    code = await city.payment_code()
    bodies = [await city.pay(100, f"till-{n}", code=code) for n in range(10)]
    answers = await asyncio.gather(
        *(
            city.api.post("/v1/holds" if n % 2 else "/v1/spends", body, city.service)
            for n, body in enumerate(bodies)
        )
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 9
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"payment_code_used"}
    available, held = await balance(city)
    assert available == 900 and held in (0, 100)  # one spend, or one hold
