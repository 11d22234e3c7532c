"""A resident without a smartphone pays at a till with the printed card and the PIN they
chose at the municipal counter: real `kgo serve wallet` and `kgo serve merchant` processes,
driven over HTTP, the merchant's topic read with the published JSON Schemas.

Approved and retried with the same Idempotency-Key: the first answer, nothing taken twice;
a wrong PIN is declined `pin_incorrect` with the attempts left (and counts in the till's
guess lockout); the fifth wrong PIN locks the card (423 `card_locked`) for every till.
Neither the card number nor the PIN reaches Kafka or the merchant's event store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from jsonschema import Draft202012Validator

from kgo_runtime.envelope import header_map
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import read_topic

from .merchant_platform import BOOTSTRAP, Api, Shopfloor, shopfloor_fixture, thai_national_id, token

pytestmark = pytest.mark.e2e

SCHEMAS = {
    p.name.removesuffix(".json"): Draft202012Validator(json.loads(p.read_text()))
    for p in (PROJECT_ROOT / "schemas" / "jsonschema").glob("kgo.merchant.*.json")
}
PIN = "2580"


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Shopfloor]:
    async for floor in shopfloor_fixture(tmp_path / "home", tmp_path, MERCHANT_GUESS_LIMIT="3"):
        yield floor


async def card_holder(floor: Shopfloor, coins: int) -> tuple[str, str]:
    """Registered at the counter (no phone), a card printed with the resident's PIN, coins
    granted: the wallet and the card number."""
    counter = Api(floor.wallet.url, token(floor.wallet, "counter_staff", "counter-1"))
    registered = await counter.post("/v1/residents/assisted", {
        "national_id": thai_national_id("310990012345"),
        "consent": {"terms_version": "kgo-terms-2026-01", "accepted": True},
    })  # fmt: skip
    assert registered.status_code == 201, registered.text
    wallet_id = registered.json()["wallet_id"]
    card = await counter.post(f"/v1/wallets/{wallet_id}/cards", {"pin": PIN})
    assert card.status_code == 201, card.text
    grant = await floor.granter.post(
        "/v1/grants", {"programme": "welcome", "wallet_id": wallet_id, "amount": coins,
                       "reason": "signup", "reference": f"signup-{wallet_id}"},
    )  # fmt: skip
    assert grant.status_code == 201, grant.text
    return wallet_id, card.json()["card_number"]


def bill(card: str, pin: str, bill_satang: int = 12_000, coins: int = 25) -> dict:
    return {"card": {"card_number": card, "pin": pin}, "bill_satang": bill_satang, "coins": coins}


async def test_a_card_and_pin_pay_at_the_till(floor: Shopfloor):
    _, till = await floor.enrol()
    _, other_till = await floor.enrol()
    wallet_id, card = await card_holder(floor, 200)

    # Approved; retried with the same key: the first answer; another PIN: key reused.
    first = await till.post("/merchant/v1/redemptions", bill(card, PIN), key="bill-1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["wallet_id"] == wallet_id and body["to_pay_satang"] == 9_500
    again = await till.post("/merchant/v1/redemptions", bill(card, PIN), key="bill-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == body
    other = await till.post("/merchant/v1/redemptions", bill(card, "9999"), key="bill-1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"

    # Both or neither authorisation: 422 with the reason.
    both = bill(card, PIN) | {"payment_code": "12345678"}
    invalid = await till.post("/merchant/v1/redemptions", both)
    assert invalid.status_code == 422 and "exactly one" in invalid.json()["detail"]

    # A wrong PIN: declined with the attempts left; its retry answers the same.
    wrong = await till.post("/merchant/v1/redemptions", bill(card, "1111"), key="bill-2")
    assert wrong.status_code == 409, wrong.text
    assert wrong.json()["code"] == "pin_incorrect" and wrong.json()["attempts_left"] == 4
    replay = await till.post("/merchant/v1/redemptions", bill(card, "1111"), key="bill-2")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == wrong.json()

    # Wrong PINs count in the till's lockout (MERCHANT_GUESS_LIMIT=3 here).
    for _ in range(2):
        guess = await till.post("/merchant/v1/redemptions", bill(card, "1111"))
        assert guess.json()["code"] == "pin_incorrect"
    locked_out = await till.post("/merchant/v1/redemptions", bill(card, PIN))
    assert locked_out.status_code == 429 and locked_out.json()["code"] == "till_locked"

    # The fifth wrong PIN in a row locks the card, at every till, even with the right PIN.
    fourth = await other_till.post("/merchant/v1/redemptions", bill(card, "1111"))
    assert fourth.json()["code"] == "pin_incorrect" and fourth.json()["attempts_left"] == 1
    fifth = await other_till.post("/merchant/v1/redemptions", bill(card, "1111"))
    assert fifth.status_code == 423 and fifth.json()["code"] == "card_locked"
    right = await other_till.post("/merchant/v1/redemptions", bill(card, PIN))
    assert right.status_code == 423 and right.json()["code"] == "card_locked"

    # The resident's wallet lost the one approved redemption's coins only.
    wallet = await floor.wallet_admin.get(f"/v1/wallets/{wallet_id}")
    assert wallet.json()["available"] == 175, wallet.text

    # Kafka: the approval once, the declines with their codes; no card number, no PIN.
    records = await read_topic(BOOTSTRAP, floor.topics["merchant"], count=9, timeout=30)
    seen: dict[str, list[dict]] = {}
    for record in records:
        headers = header_map(record.headers)
        SCHEMAS[headers["ce_type"]].validate(json.loads(record.value))
        assert card.encode() not in record.value and b"1111" not in record.value
        seen.setdefault(headers["ce_type"].split(".")[2], []).append(json.loads(record.value))
    assert [p["redemption_id"] for p in seen["DiscountRedeemed"]] == [body["redemption_id"]]
    assert {p["reason_code"] for p in seen["RedemptionDeclined"]} == {
        "pin_incorrect", "card_locked"
    }  # fmt: skip

    # Nor does either reach the merchant's own store.
    url = InfraSettings().database_url("merchant")
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            f"SELECT string_agg(convert_from(state, 'UTF8'), '') "
            f"FROM {floor.merchant.schema}.merchant_events"
        ).fetchone()[0]
    assert card not in stored and f'"{PIN}"' not in stored
