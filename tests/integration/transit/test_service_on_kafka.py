"""The transit service as its bootstrap builds it, on the real Kafka and PostgreSQL: its
relay publishes every decision on its topic (each record valid against its published JSON
Schema), and its consumer of the wallet topic finishes a trip the wallet paid while transit
never heard the answer. The wallet itself is the in-memory one injected through the
bootstrap (the real wallet is in tests/e2e/test_transit.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from jsonschema import Draft202012Validator

from kgo_contracts import wallet as w
from kgo_runtime.access import AccessSigner, Role, signing_key
from kgo_runtime.clock import ManualClock
from kgo_runtime.envelope import encode, header_map
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, fresh_schema, read_topic, unique_name
from services.transit.bootstrap import create_app
from services.transit.domain import ids
from services.transit.settings import TransitSettings
from tests.unit.transit.conftest import MORNING
from tests.unit.transit.fakes import FakeWallet

pytestmark = pytest.mark.integration

SCHEMAS = {
    path.name.removesuffix(".json"): Draft202012Validator(json.loads(path.read_text()))
    for path in (PROJECT_ROOT / "schemas" / "jsonschema").glob("kgo.transit.*.json")
}


@pytest.fixture
async def topics() -> AsyncIterator[tuple[str, str]]:
    bootstrap = InfraSettings().kafka_bootstrap
    names = (unique_name("it_transit"), unique_name("it_wallet"))
    await create_topics(bootstrap, list(names), partitions=3)
    yield names
    await delete_topics(bootstrap, list(names))


async def poll(check: Any, timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)


async def test_decisions_reach_the_topic_and_the_wallet_topic_finishes_a_trip(
    topics: tuple[str, str],
) -> None:
    transit_topic, wallet_topic = topics
    infra = InfraSettings()
    wallet = FakeWallet()
    async with fresh_schema(infra.database_url("transit"), "it_transit") as schema:
        settings = TransitSettings(
            database_schema=schema, events_topic=transit_topic, wallet_topic=wallet_topic
        )
        app = create_app(settings, wallet=wallet, clock=ManualClock(MORNING))
        admin = AccessSigner(signing_key()).issue(
            Role.MUNICIPAL_ADMIN, "it", None, timedelta(minutes=5)
        )
        async with app.router.lifespan_context(app):
            await poll(lambda: _ready(app))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                api = Client(client, admin.token)
                await api.post("/v1/routes", {"route_id": "kk-1", "name": "Loop", "length_km": 17})
                await api.post("/v1/buses", {"bus_id": "kkb-01", "route_id": "kk-1"})
                await api.post("/v1/campaigns", {
                    "campaign_id": "one-baht-bus-2022",
                    "starts_at": "2022-06-09T00:00:00+07:00",
                    "ends_at": "2022-08-31T23:59:59+07:00",
                    "coins": 50, "baht_satang": 100, "programme": "one-baht-bus-2022",
                    "daily_cap": 2,
                })  # fmt: skip
                made = await api.post("/v1/validators", {"validator_id": "v1", "bus_id": "kkb-01"})
                device = Client(client, made["credential"])
                rider = wallet.resident(120, "pass-AAAA1111")
                wallet.resident(120, "pass-BBBB2222")
                paid = await device.tap("t1", "pass-AAAA1111", MORNING)
                declined = await device.tap("t2", "pass-AAAA1111", MORNING + timedelta(minutes=1))
                assert (paid["status"], declined["reason"]) == ("paid", "double_tap")

                wallet.crash_after_spend = True  # the wallet answers; transit never hears it
                lost = await device.client.post(
                    "/v1/taps",
                    json={
                        "tap_id": "t3",
                        "pass": "pass-BBBB2222",
                        "tapped_at": MORNING.isoformat(),
                    },
                    headers=device.headers | {"Idempotency-Key": "t3"},
                )
                assert (lost.status_code, lost.json()["code"]) == (503, "wallet_unavailable")
                wallet.crash_after_spend = False
                trip_id = ids.trip_id("v1", "t3")
                await _wallet_paid(wallet_topic, app, trip_id, wallet.passes["pass-BBBB2222"])

                async def finished() -> bool:
                    answer = await api.client.get(f"/v1/trips/{trip_id}", headers=api.headers)
                    return answer.json()["status"] == "paid"

                await poll(finished)
                assert wallet.balances[rider] == 70

            records = await read_topic(infra.kafka_bootstrap, transit_topic, count=7)
        types = []
        for record in records:
            headers = header_map(record.headers)
            SCHEMAS[headers["ce_type"]].validate(json.loads(record.value))
            types.append(headers["ce_type"].split(".")[2])
        assert sorted(set(types)) == [
            "BusRegistered",
            "CampaignScheduled",
            "FareDeclined",
            "FarePaid",
            "RouteOpened",
            "ValidatorRegistered",
        ]
        assert types.count("FarePaid") == 2


async def _ready(app: Any) -> bool:
    runtime = getattr(app.state, "runtime", None)
    return runtime is not None and runtime.started.is_set()


async def _wallet_paid(topic: str, app: Any, trip_id: UUID, rider: UUID) -> None:
    """The wallet's credit leg of that spend on the (test's) wallet topic."""
    operator = app.state.transit.collector.operator_id
    event = w.PaymentReceived(
        account_id=operator,
        account_kind="operator",
        account_version=2,
        occurred_at=MORNING,
        movement_id=uuid4(),
        amount=50,
        available_after=100,
        held_after=0,
        counter_account_id=rider,
        counter_account_kind="resident",
        reference=str(trip_id),
    )
    record = encode(event, ce_id=str(uuid4()), source="/kgo/wallet", topic_for=lambda _e: topic)
    producer = AIOKafkaProducer(bootstrap_servers=InfraSettings().kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )
    finally:
        await producer.stop()


class Client:
    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    async def post(self, path: str, body: Any) -> Any:
        answer = await self.client.post(
            path, json=body, headers=self.headers | {"Idempotency-Key": uuid4().hex}
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    async def tap(self, tap_id: str, pass_token: str, at: Any) -> Any:
        body = {"tap_id": tap_id, "pass": pass_token, "tapped_at": at.isoformat()}
        answer = await self.client.post(
            "/v1/taps", json=body, headers=self.headers | {"Idempotency-Key": tap_id}
        )
        assert answer.status_code == 201, answer.text
        return answer.json()
