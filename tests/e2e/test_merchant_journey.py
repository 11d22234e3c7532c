"""A shop's day as the till and the city see it: real `kgo serve wallet` and `kgo serve
merchant` processes, driven over HTTP, their topics read with the published JSON Schemas.

Till retries get the first answer; a reused, expired or guessed code, or one presented for
another wallet, is declined (and guessing locks the till out); a suspended shop is declined;
a void in its window gives the coins back; rewards and a settlement move coins on; the day's
CSV statement adds up; every approved redemption is one `DiscountRedeemed` on Kafka."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
from jsonschema import Draft202012Validator

from kgo_runtime.clock import SystemClock, bangkok_day
from kgo_runtime.envelope import header_map
from kgo_runtime.settings import PROJECT_ROOT
from kgo_runtime.testing import read_topic

from .merchant_platform import BOOTSTRAP, Shopfloor, shopfloor_fixture

pytestmark = pytest.mark.e2e

SCHEMAS = {
    p.name.removesuffix(".json"): Draft202012Validator(json.loads(p.read_text()))
    for p in (PROJECT_ROOT / "schemas" / "jsonschema").glob("kgo.merchant.*.json")
}


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Shopfloor]:
    env = {"MERCHANT_GUESS_LIMIT": "3"}
    async for floor in shopfloor_fixture(tmp_path / "home", tmp_path, **env):
        yield floor


async def code_of(phone) -> str:
    answer = await phone.post("/v1/payment-codes")
    assert answer.status_code == 201, answer.text
    return answer.json()["code"]


def bill(code: str, bill_satang: int = 12_000, coins: int = 25) -> dict:
    return {"payment_code": code, "bill_satang": bill_satang, "coins": coins}


async def test_a_shops_day_at_the_till(floor: Shopfloor):
    shop, till = await floor.enrol(cap_per_bill_coins=100)
    _, guesser = await floor.enrol()
    wallet_id, phone = await floor.resident(500)
    approved = []

    # Approved, then retried with the same key: the first answer, nothing taken twice.
    code = await code_of(phone)
    first = await till.post("/merchant/v1/redemptions", bill(code), key="bill-1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["wallet_id"] == wallet_id and body["to_pay_satang"] == 9_500
    again = await till.post("/merchant/v1/redemptions", bill(code), key="bill-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == body
    other = await till.post("/merchant/v1/redemptions", bill(code, 99_000), key="bill-1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    approved.append(body["redemption_id"])

    # The same code again, under another key: used.
    reused = await till.post("/merchant/v1/redemptions", bill(code))
    assert reused.status_code == 409 and reused.json()["code"] == "payment_code_used"

    # A code of the resident's, presented for another wallet the till names: refused.
    other_wallet, _ = await floor.resident(10)
    named = bill(await code_of(phone)) | {"wallet_id": other_wallet}
    foreign_code = await till.post("/merchant/v1/redemptions", named)
    assert foreign_code.status_code == 409
    assert foreign_code.json()["code"] == "payment_code_invalid"

    # The shop's rules: at most half the bill, at most 100 coins.
    share = await till.post("/merchant/v1/redemptions", bill(await code_of(phone), 1_000, 6))
    assert share.json()["code"] == "coin_share_exceeded"
    cap = await till.post("/merchant/v1/redemptions", bill(await code_of(phone), 90_000, 101))
    assert cap.json()["code"] == "bill_cap_exceeded"

    # Guessing codes at another shop's till: declined, then locked out (that till only).
    for _ in range(3):
        guess = await guesser.post("/merchant/v1/redemptions", bill(f"{uuid4().int % 10**8:08d}"))
        assert guess.status_code == 409 and guess.json()["code"] == "payment_code_invalid"
    locked = await guesser.post("/merchant/v1/redemptions", bill(await code_of(phone)))
    assert locked.status_code == 429 and locked.json()["code"] == "till_locked"
    assert int(locked.headers["Retry-After"]) > 0

    # A till acts for its own shop only.
    foreign = await guesser.get(f"/merchant/v1/redemptions/{approved[0]}")
    assert foreign.status_code == 404

    # Suspended: declined; reinstated: approved again.
    assert (await floor.admin.post(f"/merchant/v1/shops/{shop}/suspend",
                                   {"reason": "inspection"})).status_code == 200  # fmt: skip
    suspended = await till.post("/merchant/v1/redemptions", bill(await code_of(phone)))
    assert suspended.status_code == 409 and suspended.json()["code"] == "shop_suspended"
    await floor.admin.post(f"/merchant/v1/shops/{shop}/reinstate")
    scanned = "kgo:pay:" + await code_of(phone)  # as scanned from the app's QR code
    second = await till.post("/merchant/v1/redemptions", bill(scanned, 8_000, 40))
    assert second.status_code == 201, second.text
    approved.append(second.json()["redemption_id"])

    # Void within the window: the 40 coins go back; voiding again answers the first void.
    voided = await till.post(f"/merchant/v1/redemptions/{approved[1]}/void")
    assert voided.status_code == 200 and voided.json()["status"] == "voided", voided.text
    assert (await till.post(f"/merchant/v1/redemptions/{approved[1]}/void")).headers[
        "Idempotent-Replayed"
    ] == "true"

    # Rewards from the shop's balance and from the matching budget; a settlement.
    receive = (await phone.post("/v1/receive-codes")).json()["code"]
    own = await till.post("/merchant/v1/rewards", {"receive_code": receive, "coins": 5})
    assert own.status_code == 201, own.text
    matched = await till.post(
        "/merchant/v1/rewards", {"receive_code": receive, "coins": 7, "source": "matching"}
    )
    assert matched.status_code == 201 and matched.json()["programme"] == "shop-matching"
    settled = await floor.admin.post(
        f"/merchant/v1/shops/{shop}/settlements",
        {"coins": 10, "baht_satang": 1_000, "payment_reference": "KTB-20220610-1",
         "programme": "welcome"},
    )  # fmt: skip
    assert settled.status_code == 201, settled.text

    # The resident's wallet: 500 - 25 - 40 + 40 + 5 + 7.
    balance = (await phone.get(f"/v1/wallets/{wallet_id}")).json()
    assert balance["available"] == 487, balance

    # The day's statement, as the till reads it.
    today = bangkok_day(SystemClock().now())
    csv_answer = await till.get(f"/merchant/v1/shops/{shop}/statements", day=today)
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith(
        "text/csv"
    )
    [row] = list(csv.DictReader(io.StringIO(csv_answer.text)))
    assert row["day"] == today and row["redemptions"] == "2" and row["coins_accepted"] == "65"
    assert row["voids"] == "1" and row["coins_voided"] == "40" and row["discount_satang"] == "2500"
    assert row["coins_issued"] == "12" and row["coins_settled"] == "10"
    assert row["closing_balance"] == str(65 - 40 - 5 - 10)

    # Kafka: each approved redemption once, every record valid and keyed by its shop.
    records = await read_topic(BOOTSTRAP, floor.topics["merchant"], count=10, timeout=30)
    seen: dict[str, list[dict]] = {}
    for record in records:
        headers = header_map(record.headers)
        payload = json.loads(record.value)
        SCHEMAS[headers["ce_type"]].validate(payload)
        assert b"+66" not in record.value and code.encode() not in record.value
        seen.setdefault(headers["ce_type"].split(".")[2], []).append(payload)
    redeemed = {p["redemption_id"] for p in seen["DiscountRedeemed"]}
    assert redeemed == set(approved)
    assert {p["reason_code"] for p in seen["RedemptionDeclined"]} >= {
        "payment_code_used", "coin_share_exceeded", "bill_cap_exceeded", "shop_suspended",
        "payment_code_invalid",
    }  # fmt: skip
    assert [p["redemption_id"] for p in seen["RedemptionVoided"]] == [approved[1]]


@pytest.fixture
async def short_codes(tmp_path: Path) -> AsyncIterator[Shopfloor]:
    wallet_env = {"WALLET_PAYMENT_CODE_TTL_SECONDS": "2"}
    async for floor in shopfloor_fixture(tmp_path / "home", tmp_path, wallet_env):
        yield floor


async def test_an_expired_code_is_declined(short_codes: Shopfloor):
    """The wallet's codes live WALLET_PAYMENT_CODE_TTL_SECONDS (2 s in this test's wallet)."""
    _, till = await short_codes.enrol()
    _, phone = await short_codes.resident(100)
    code = await code_of(phone)
    await asyncio.sleep(2.2)  # the wallet runs on the system clock
    stale = await till.post("/merchant/v1/redemptions", bill(code))
    assert stale.status_code == 409 and stale.json()["code"] == "payment_code_expired"
