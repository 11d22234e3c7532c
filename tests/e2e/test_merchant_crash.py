"""kill -9 of the merchant between the wallet's capture and its own record, then a restart:
every coin the wallet captured has its `DiscountRedeemed`, once; the tills' retries get final
answers; and after the restart (void window 0) a void is refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kgo_runtime.envelope import header_map
from kgo_runtime.testing import read_topic

from .merchant_platform import BOOTSTRAP, Shopfloor, shopfloor_fixture

pytestmark = pytest.mark.e2e


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Shopfloor]:
    async for floor in shopfloor_fixture(
        tmp_path / "home", tmp_path, MERCHANT_CRASH_AFTER_CAPTURE="true"
    ):
        yield floor


async def test_a_crash_after_the_capture_loses_no_redemption(floor: Shopfloor):
    _, till = await floor.enrol()
    residents = [await floor.resident(100) for _ in range(6)]
    bills = {}
    for i, (_, phone) in enumerate(residents):
        code = (await phone.post("/v1/payment-codes")).json()["code"]
        bills[f"crash-{i}"] = {"payment_code": code, "bill_satang": 10_000, "coins": 20}

    async def attempt(key: str) -> int | None:
        try:
            return (await till.post("/merchant/v1/redemptions", bills[key], key=key)).status_code
        except httpx.HTTPError:
            return None  # the merchant died under this request

    answers = await asyncio.gather(*(attempt(key) for key in bills))
    assert None in answers  # the merchant was killed at the first capture
    assert floor.merchant.process is not None
    assert floor.merchant.process.wait(timeout=30) == -9

    # Restart it without the fault, and with a void window of zero.
    env = floor.merchant.env
    env.pop("MERCHANT_CRASH_AFTER_CAPTURE")
    env["MERCHANT_VOID_WINDOW_SECONDS"] = "0"
    floor.merchant.start()

    finals = {}
    for _ in range(120):
        for key in bills:
            if key not in finals:
                answer = await till.post("/merchant/v1/redemptions", bills[key], key=key)
                if answer.status_code in (201, 409):
                    finals[key] = answer.json()
        if len(finals) == len(bills):
            break
        await asyncio.sleep(0.25)
    assert len(finals) == len(bills), finals
    approved = {a["redemption_id"]: a for a in finals.values() if a.get("status") == "redeemed"}
    assert approved, finals

    # Every hold the wallet captured for the shop has its DiscountRedeemed, with its coins.
    captured = await _captured(floor, approved)
    merchant = await read_topic(BOOTSTRAP, floor.topics["merchant"], count=1 + len(captured))
    redeemed_type = "kgo.merchant.DiscountRedeemed.v1"
    redeemed = [
        json.loads(r.value) for r in merchant if header_map(r.headers)["ce_type"] == redeemed_type
    ]
    by_id = {}
    for event in redeemed:  # a republish after the crash carries the same ce_id
        by_id.setdefault(event["redemption_id"], event)
    assert set(by_id) == set(captured) == set(approved)
    assert all(by_id[r]["coins"] == captured[r] for r in captured)

    # After the restart the void window is zero: a void is refused, nothing moves.
    late = await till.post(f"/merchant/v1/redemptions/{next(iter(approved))}/void")
    assert late.status_code == 409 and late.json()["code"] == "void_window_closed"


async def _captured(floor: Shopfloor, expected: dict) -> dict[str, int]:
    """Redemption id -> coins of every HoldCaptured on the wallet topic (waits for all)."""
    found: dict[str, int] = {}
    for _ in range(20):
        records = await read_topic(BOOTSTRAP, floor.topics["wallet"], count=1, timeout=10)
        found = {
            json.loads(r.value)["reference"]: json.loads(r.value)["amount"]
            for r in records
            if header_map(r.headers)["ce_type"] == "kgo.wallet.HoldCaptured.v1"
        }
        if len(found) >= len(expected):
            return found
        await asyncio.sleep(0.25)
    return found
