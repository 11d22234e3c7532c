"""kill -9 in the middle of a burst of spends: after a restart, every retry gets the first
answer, no coin is taken twice or lost, no payment code is spent without its payment, and
the topic still folds to the ledger."""

from __future__ import annotations

import asyncio
import signal
from uuid import uuid4

import httpx
import pytest

from .test_wallet_journey import Api, thai_national_id

pytestmark = pytest.mark.e2e

SPENDS, AMOUNT, FUNDS = 200, 5, 1_000


async def test_a_wallet_killed_mid_burst_loses_and_duplicates_nothing(wallet):
    admin_token = wallet.token("municipal_admin", "crash-admin")
    service_token = wallet.token("service", "crash-service")
    admin = Api(wallet.url, admin_token)
    await admin.post("/v1/treasury/genesis", {})
    await admin.post("/v1/budgets", {"programme": "welcome", "label": "Welcome"})
    await admin.post("/v1/budgets/welcome/allocations", {"amount": 10_000})
    resident = await admin.post(
        "/v1/residents", {"national_id": thai_national_id("510170012345"), "phone": "0822222222"}
    )
    wallet_id = resident.json()["wallet_id"]
    service = Api(wallet.url, service_token)
    grant = {"programme": "welcome", "wallet_id": wallet_id, "amount": FUNDS, "reason": "r"}
    assert (await service.post("/v1/grants", {**grant, "reference": "g"})).status_code == 201
    shop = (
        await admin.post("/v1/payees", {"kind": "shop", "external_ref": "k9", "label": "K9"})
    ).json()["account_id"]
    phone = Api(wallet.url, wallet.token("resident", "crash-resident", wallet_id))
    codes = [(await phone.post("/v1/payment-codes", {})).json()["code"] for _ in range(SPENDS)]
    run = uuid4().hex[:8]
    bodies = {
        f"{run}-{i}": {"payee_id": shop, "amount": AMOUNT, "reference": f"bill-{i}",
                       "authorisation": {"kind": "payment_code", "code": codes[i]}}
        for i in range(SPENDS)
    }  # fmt: skip

    done = 0
    enough = asyncio.Event()

    async def spend(key: str) -> httpx.Response | None:
        nonlocal done
        try:
            response = await service.post("/v1/spends", bodies[key], key=key)
        except httpx.HTTPError:
            return None  # the process died under this request
        done += 1
        if done >= 10:
            enough.set()
        return response

    async def kill_soon() -> None:
        await asyncio.wait_for(enough.wait(), 60)  # some answered, most still in flight
        wallet.stop(signal.SIGKILL)

    answers = await asyncio.gather(*(spend(k) for k in bodies), kill_soon())
    first = {k: r for k, r in zip(bodies, answers, strict=False) if r is not None}
    answered = {k: r.json() for k, r in first.items() if r.status_code == 201}
    assert 0 < len(answered) < SPENDS, "the kill should land mid-burst"

    wallet.start()
    # new connections to the new process, same tokens: the same callers retry their keys
    admin, retry = Api(wallet.url, admin_token), Api(wallet.url, service_token)
    again = await asyncio.gather(*(retry.post("/v1/spends", bodies[k], key=k) for k in bodies))
    assert all(r.status_code == 201 for r in again), [r.text for r in again if r.status_code != 201]
    for key, response in zip(bodies, again, strict=True):
        if key in answered:
            assert response.headers.get("Idempotent-Replayed") == "true"
            assert response.json() == answered[key]
    movements = {r.json()["movement_id"] for r in again}
    assert len(movements) == SPENDS

    balance = (await admin.get(f"/v1/wallets/{wallet_id}")).json()
    assert (balance["available"], balance["held"]) == (FUNDS - SPENDS * AMOUNT, 0)
    rebuilt = wallet.kgo("wallet", "rebuild", "--wait", "30")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
