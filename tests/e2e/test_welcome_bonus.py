"""The welcome bonus and the welcome cap across two real services: `kgo serve wallet` and
`kgo serve missions`, on topics of their own. Nobody calls /v1/grants: registering a resident
at the wallet earns 100 KGO through missions' built-in signup mission; then a daily
"one ride" mission worth 200 KGO (welcome campaign) pays 200, then 100 (cut by the 400 cap),
then nothing (recorded as MissionRewardCapped), and the wallet's balance says 400."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer

from kgo_contracts.base import BANGKOK
from kgo_contracts.transit import FarePaid
from kgo_runtime.envelope import encode
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, read_topic, unique_name

from .platform import ServiceProcess, kgo, service_process
from .test_wallet_journey import Api, thai_national_id

pytestmark = pytest.mark.e2e

BOOTSTRAP = InfraSettings().kafka_bootstrap
T0 = datetime(2022, 6, 9, 7, 0, tzinfo=BANGKOK)


@pytest.fixture
async def topics() -> AsyncIterator[dict[str, str]]:
    name = unique_name("e2e.welcome")
    names = {k: f"{name}.{k}" for k in ("wallet", "missions", "merchant", "transit")}
    every = [*names.values(), *(f"{t}.dlq" for t in names.values())]
    await create_topics(BOOTSTRAP, every, partitions=3)
    yield names
    await delete_topics(BOOTSTRAP, every)


async def until(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.25)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.25)
    raise TimeoutError("the expected state never came")


@pytest.mark.timeout(240)
async def test_registration_pays_the_welcome_bonus_and_the_cap_holds(
    topics: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "kgo"
    wallet = service_process("wallet", home, {
        "WALLET_EVENTS_TOPIC": topics["wallet"], "WALLET_MISSIONS_TOPIC": topics["missions"],
    }, tmp_path)  # fmt: skip
    processes: list[ServiceProcess] = [wallet]
    try:
        wallet.start()
        admin_token = kgo(wallet.env, "wallet", "token", "create", "--role", "municipal_admin",
                          "--name", "e2e-admin").stdout.strip().splitlines()[-1]  # fmt: skip
        service_token = kgo(wallet.env, "wallet", "token", "create", "--role", "service",
                            "--name", "missions").stdout.strip().splitlines()[-1]  # fmt: skip
        admin = Api(wallet.url, admin_token)
        assert (await admin.post("/v1/treasury/genesis", {})).status_code == 201
        await admin.post("/v1/budgets", {"programme": "welcome", "label": "Welcome"})
        await admin.post("/v1/budgets/welcome/allocations", {"amount": 10_000})

        missions = service_process("missions", home, {
            "MISSIONS_WALLET_TOPIC": topics["wallet"], "MISSIONS_EVENTS_TOPIC": topics["missions"],
            "MISSIONS_MERCHANT_TOPIC": topics["merchant"],
            "MISSIONS_TRANSIT_TOPIC": topics["transit"],
            "MISSIONS_WALLET_URL": wallet.url, "MISSIONS_WALLET_TOKEN": service_token,
        }, tmp_path)  # fmt: skip
        processes.append(missions)
        missions.start()

        resident = await admin.post(
            "/v1/residents",
            {"national_id": thai_national_id("310170054321"), "phone": "0811111111"},
        )
        assert resident.status_code == 201, resident.text
        wallet_id = resident.json()["wallet_id"]

        async def balance_is(amount: int):  # type: ignore[no-untyped-def]
            answer = (await admin.get(f"/v1/wallets/{wallet_id}")).json()
            return answer if answer.get("available") == amount else None

        await until(lambda: balance_is(100))  # the welcome bonus, nobody called /v1/grants

        # The same admin API token works on missions (checked at the wallet).
        on_missions = Api(missions.url, admin_token)
        published = await on_missions.post("/v1/missions", {
            "code": "one-ride", "title_th": "นั่งรถเมล์", "title_en": "Ride the bus",
            "reward": 200, "starts_at": T0.isoformat(), "period": "daily", "limit": 1,
            "campaign": "welcome", "programme": "welcome",
            "rule": {"kind": "count", "event": "fare_paid", "count": 1},
        })  # fmt: skip
        assert published.status_code == 201, published.text

        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True)
        await producer.start()
        try:
            for day in range(3):
                fare = FarePaid(trip_id=uuid4(), wallet_id=wallet_id, validator_id="v-1",
                                route_id="r-8", fare_product="regular", coins=0, baht_satang=1500,
                                occurred_at=T0 + timedelta(days=day))  # fmt: skip
                r = encode(fare, ce_id=str(uuid4()), source="/kgo/transit",
                           topic_for=lambda _e: topics["transit"])  # fmt: skip
                await producer.send_and_wait(r.topic, r.value, key=r.key, headers=r.headers)
        finally:
            await producer.stop()

        await until(lambda: balance_is(400))
        progress = (await on_missions.get(f"/v1/residents/{wallet_id}/missions")).json()
        assert progress["received"] == {"welcome": 400}
        completions = (await on_missions.get(f"/v1/residents/{wallet_id}/completions")).json()
        # The rides (taken in 2022) come first in business time, the signup (today) last;
        # the cap cut whatever was recorded once 400 was reached.
        assert sorted((c["requested_reward"], c["reward"]) for c in completions) == [
            (100, 100),
            (200, 0),
            (200, 100),
            (200, 200),
        ]
        published_records = await read_topic(BOOTSTRAP, topics["missions"], count=5)
        types = [dict(r.headers)["ce_type"].decode() for r in published_records]
        assert types.count("kgo.missions.MissionCompleted.v1") == 3
        assert types.count("kgo.missions.MissionRewardCapped.v1") == 1
        for record in published_records:
            assert "0811111111" not in record.value.decode()
            json.loads(record.value)
        await asyncio.sleep(1)  # a late grant would show now
        assert await balance_is(400)
    finally:
        for process in reversed(processes):
            process.stop()
            process.drop_schema()
