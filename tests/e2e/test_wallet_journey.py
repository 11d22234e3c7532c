"""The wallet as a city system meets it: a running `kgo serve wallet`, its HTTP API, and its
Kafka topic read by a plain consumer that checks every record against the published JSON
Schema and folds the balances — which must equal what the API says."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import defaultdict
from uuid import uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from jsonschema import Draft202012Validator

from kgo_contracts.fold import fold
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings

pytestmark = pytest.mark.e2e

SCHEMAS = PROJECT_ROOT / "schemas" / "jsonschema"


def thai_national_id(first12: str) -> str:
    check = (11 - sum(int(d) * (13 - i) for i, d in enumerate(first12)) % 11) % 10
    return first12 + str(check)


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    async def post(self, path: str, body: dict, key: str | None = None) -> httpx.Response:
        return await self.client.post(
            path, json=body, headers={"Idempotency-Key": key or uuid4().hex}
        )

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)


async def read_all(topic: str, expected: int, timeout: float = 30) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=InfraSettings().kafka_bootstrap,
        group_id=f"e2e-{uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(records) < expected and loop.time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def test_a_residents_coins_from_genesis_to_the_noodle_shop(wallet):
    admin = Api(wallet.url, wallet.token("municipal_admin", "e2e-admin"))
    assert (await admin.post("/v1/treasury/genesis", {}, key="genesis")).status_code == 201
    assert (await admin.post("/v1/treasury/genesis", {}, key="genesis")).headers.get(
        "Idempotent-Replayed"
    ) == "true"
    second = await admin.post("/v1/treasury/genesis", {})
    assert second.status_code == 409 and second.json()["code"] == "already_minted"
    assert second.headers["content-type"].startswith("application/problem+json")

    await admin.post("/v1/budgets", {"programme": "welcome", "label": "Welcome"})
    await admin.post("/v1/budgets/welcome/allocations", {"amount": 10_000})
    resident = await admin.post(
        "/v1/residents",
        {"national_id": thai_national_id("110170012345"), "phone": "+66 81 234 5678"},
    )
    assert resident.status_code == 201, resident.text
    wallet_id = resident.json()["wallet_id"]
    again = await admin.post(
        "/v1/residents", {"national_id": thai_national_id("110170012345"), "phone": "0899999999"}
    )
    assert again.status_code == 409 and again.json()["code"] == "already_registered"
    shop = (
        await admin.post(
            "/v1/payees", {"kind": "shop", "external_ref": "shop-17", "label": "Noodles"}
        )
    ).json()

    operator = Api(wallet.url, wallet.token("programme_operator", "e2e-operator", "welcome"))
    grant = await operator.post(
        "/v1/grants",
        {
            "programme": "welcome",
            "wallet_id": wallet_id,
            "amount": 1_000,
            "reason": "signup",
            "reference": "signup-1",
        },
    )
    assert grant.status_code == 201, grant.text

    # The resident's phone shows a one-time code per purchase; the merchant service brings it.
    phone = Api(wallet.url, wallet.token("resident", "e2e-resident", wallet_id))
    issued = [(await phone.post("/v1/payment-codes", {})).json()["code"] for _ in range(100)]
    merchant = Api(wallet.url, wallet.token("service", "e2e-merchant"))

    def bill(i: int, code: str, **extra: object) -> dict:
        return {"payee_id": shop["account_id"], "amount": 50, "reference": f"bill-{i}",
                "authorisation": {"kind": "payment_code", "code": code}, **extra}  # fmt: skip

    # A shop's own token takes nothing, even with a valid code.
    till = Api(wallet.url, wallet.token("payee", "e2e-till", shop["account_id"]))
    refused = await till.post("/v1/spends", bill(0, issued[0], wallet_id=wallet_id))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"

    spends = await asyncio.gather(
        *(merchant.post("/v1/spends", bill(i, code)) for i, code in enumerate(issued))
    )
    codes = [r.status_code for r in spends]
    assert codes.count(201) == 20 and codes.count(409) == 80, [r.text for r in spends]
    assert {r.json()["wallet_id"] for r in spends if r.status_code == 201} == {wallet_id}
    assert not any("available" in r.text for r in spends)
    used = next(code for code, r in zip(issued, spends, strict=True) if r.status_code == 201)
    reused = await merchant.post("/v1/spends", bill(100, used))
    assert reused.status_code == 409 and reused.json()["code"] == "payment_code_used", reused.text

    # malformed and unauthorised requests: clear 4xx problems, nothing accepted
    for body in (
        {**bill(1, "12345678"), "amount": 1.5},
        {**bill(1, "12345678"), "wallet_id": "not-a-uuid"},
        {**bill(1, "12345678"), "amount": "5"},
        {"payee_id": shop["account_id"], "amount": 5, "reference": "no consent"},
    ):
        bad = await merchant.post("/v1/spends", body)
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_request", bad.text
    raw = await merchant.client.post(
        "/v1/spends",
        content=b"{not json",
        headers={"Idempotency-Key": "x", "content-type": "application/json"},
    )
    assert 400 <= raw.status_code < 500
    assert (
        await httpx.AsyncClient(base_url=wallet.url).post("/v1/spends", json={})
    ).status_code == 401

    balance = (await admin.get(f"/v1/wallets/{wallet_id}")).json()
    assert (balance["available"], balance["held"]) == (0, 0), balance

    # Kafka, read by a plain consumer: every record valid, folding to the API's balances.
    # The relay publishes within moments; wait until the shop's last receipt is on the topic.
    for _ in range(20):
        records = await read_all(wallet.topic, expected=10_000, timeout=2)
        shop_records = [r for r in records if r.key.decode() == shop["account_id"]]
        if shop_records and json.loads(shop_records[-1].value).get("available_after") == 1_000:
            break
    else:
        pytest.fail(f"the shop's last receipt is not on {wallet.topic}: {len(records)} records")
    validators = {
        p.stem: Draft202012Validator(json.loads(p.read_text())) for p in SCHEMAS.glob("*.json")
    }
    per_key = defaultdict(list)
    folded_input = []
    for record in records:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["ce_specversion"] == "1.0" and headers["content-type"] == "application/json"
        payload = json.loads(record.value)
        errors = list(validators[headers["ce_type"]].iter_errors(payload))
        assert not errors, errors
        assert record.key.decode() == headers["ce_subject"] == payload["account_id"]
        assert headers["ce_time"].endswith("+07:00")
        per_key[payload["account_id"]].append(payload["account_version"])
        folded_input.append((headers["ce_id"], headers["ce_type"], payload))
    for versions in per_key.values():
        assert versions == list(range(1, len(versions) + 1))
    ledger = fold(folded_input)
    ledger.check_conservation()
    assert ledger.minted == 1_000_000
    assert (ledger.balances[wallet_id].available, ledger.balances[wallet_id].held) == (0, 0)
    assert ledger.balances[shop["account_id"]].available == 1_000
    assert not any(
        k in json.dumps(p)
        for _, _, p in folded_input
        for k in ("national_id", "phone", "0812345678")
    )

    # personal data is stored only sealed: not in any stored event, not in any table
    schema = wallet.env["WALLET_DATABASE_SCHEMA"]
    conn = await asyncpg.connect(InfraSettings().database_url("wallet"))
    try:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        ]
        for table in tables:
            dump = await conn.fetchval(
                f"SELECT coalesce(string_agg(t::text, ''), '') FROM {schema}.{table} t"
            )
            stored = await conn.fetch(f"SELECT * FROM {schema}.{table}")
            blob = dump + "".join(
                bytes(v).decode("utf8", "replace")
                for r in stored
                for v in r.values()
                if isinstance(v, bytes | memoryview)
            )
            assert thai_national_id("110170012345") not in blob and "812345678" not in blob, table
            assert not any(code in blob for code in issued), table  # codes only as keyed hashes
    finally:
        await conn.close()

    rebuilt = wallet.kgo("wallet", "rebuild", "--wait", "10")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "no differences" in rebuilt.stdout

    assert wallet.stop(signal.SIGTERM) == 0


async def test_an_unanswered_hold_expires_and_returns_the_coins(wallet):
    admin = Api(wallet.url, wallet.token("municipal_admin", "e2e-admin"))
    await admin.post("/v1/treasury/genesis", {})
    await admin.post("/v1/budgets", {"programme": "welcome", "label": "Welcome"})
    await admin.post("/v1/budgets/welcome/allocations", {"amount": 1_000})
    wallet_id = (
        await admin.post(
            "/v1/residents",
            {"national_id": thai_national_id("310170012345"), "phone": "0811111111"},
        )
    ).json()["wallet_id"]
    service = Api(wallet.url, wallet.token("service", "e2e-missions"))
    await service.post(
        "/v1/grants",
        {
            "programme": "welcome",
            "wallet_id": wallet_id,
            "amount": 100,
            "reason": "signup",
            "reference": "s",
        },
    )
    shop = (
        await service.post(
            "/v1/payees", {"kind": "operator", "external_ref": "citybus", "label": "City Bus"}
        )
    ).json()
    rider = Api(wallet.url, wallet.token("resident", "e2e-rider", wallet_id))
    bus_pass = (await rider.post("/v1/transit-passes", {})).json()["pass"]
    hold = await service.post(
        "/v1/holds",
        {
            "payee_id": shop["account_id"],
            "amount": 50,
            "reference": "trip-1",
            "ttl_seconds": 5,
            "authorisation": {"kind": "transit_pass", "pass": bus_pass},
        },
    )
    assert hold.status_code == 201, hold.text
    assert (await admin.get(f"/v1/wallets/{wallet_id}")).json()["held"] == 50
    for _ in range(40):
        await asyncio.sleep(0.5)
        balance = (await admin.get(f"/v1/wallets/{wallet_id}")).json()
        if balance["held"] == 0:
            break
    assert (balance["available"], balance["held"]) == (100, 0)
    capture = await service.post(
        f"/v1/wallets/{wallet_id}/holds/{hold.json()['hold_id']}/capture",
        {"payee_id": shop["account_id"]},
    )
    assert capture.status_code in (404, 409)
