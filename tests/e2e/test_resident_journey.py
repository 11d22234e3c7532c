"""A resident's journey through the public APIs only, on real `kgo serve wallet` and
`kgo serve missions` processes: sign up with a national ID and a phone, confirm the phone
with the one-time code from the SMS outbox, see the 100 KGO welcome bonus arrive, complete
missions by rides and a shop payment arriving on the topics, reach 400 and no more — with the
wallet killed with -9 while the completions stream in — then check in at a municipal
activity. At the end an outside fold of the wallet topic conserves the supply and shows one
grant per completion."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from kgo_contracts.base import BANGKOK, ContractEvent
from kgo_contracts.fold import fold
from kgo_contracts.merchant import DiscountRedeemed
from kgo_contracts.transit import FarePaid
from kgo_runtime.envelope import encode, header_map
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, read_topic, unique_name

from .platform import ServiceProcess, kgo, service_process
from .test_wallet_journey import thai_national_id

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

BOOTSTRAP = InfraSettings().kafka_bootstrap
T0 = datetime(2022, 6, 9, 7, 0, tzinfo=BANGKOK)


@pytest.fixture
async def topics() -> AsyncIterator[dict[str, str]]:
    name = unique_name("e2e.journey")
    names = {k: f"{name}.{k}" for k in ("wallet", "missions", "merchant", "transit")}
    every = [*names.values(), *(f"{t}.dlq" for t in names.values())]
    await create_topics(BOOTSTRAP, every, partitions=3)
    yield names
    await delete_topics(BOOTSTRAP, every)


class Client:
    def __init__(self, url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=url, headers=headers, timeout=30)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(path, json=body, headers={"Idempotency-Key": uuid4().hex})

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path)


async def until(check, timeout: float = 90.0):  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.25)):
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(0.25)
    raise TimeoutError("the expected state never came")


def last_code(outbox: Path) -> str:
    code: str = json.loads(outbox.read_text().splitlines()[-1])["code"]
    return code


async def publish(topic: str, events: list[ContractEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            record = encode(
                event, ce_id=str(uuid4()), source=event.ce_source(), topic_for=lambda _e: topic
            )
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


async def test_sign_up_welcome_missions_to_400_and_no_more_then_an_activity(
    topics: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "kgo"
    outbox = tmp_path / "sms.jsonl"
    wallet = service_process("wallet", home, {
        "WALLET_EVENTS_TOPIC": topics["wallet"], "WALLET_MISSIONS_TOPIC": topics["missions"],
        "WALLET_MISSIONS_CONSUMER": unique_name("journey-grants"),
        "WALLET_SMS_OUTBOX": str(outbox),
    }, tmp_path)  # fmt: skip
    processes: list[ServiceProcess] = [wallet]
    try:
        wallet.start()

        def token(role: str, name: str) -> str:
            made = kgo(wallet.env, "wallet", "token", "create", "--role", role, "--name", name)
            assert made.returncode == 0, made.stderr
            return made.stdout.strip().splitlines()[-1]

        admin = Client(wallet.url, token("municipal_admin", "journey-admin"))
        assert (await admin.post("/v1/treasury/genesis")).status_code == 201
        for programme, amount in (("welcome", 10_000), ("municipal-activities", 1_000)):
            await admin.post("/v1/budgets", {"programme": programme, "label": programme})
            await admin.post(f"/v1/budgets/{programme}/allocations", {"amount": amount})

        missions = service_process("missions", home, {
            "MISSIONS_WALLET_TOPIC": topics["wallet"], "MISSIONS_EVENTS_TOPIC": topics["missions"],
            "MISSIONS_MERCHANT_TOPIC": topics["merchant"],
            "MISSIONS_TRANSIT_TOPIC": topics["transit"],
            "MISSIONS_WALLET_URL": wallet.url,
            "MISSIONS_WALLET_TOKEN": token("service", "missions"),
        }, tmp_path)  # fmt: skip
        processes.append(missions)
        missions.start()
        operator = Client(missions.url, admin.http.headers["Authorization"].split()[-1])
        for code, reward, rule in (
            ("two-rides", 150, {"kind": "count", "event": "fare_paid", "count": 2}),
            ("first-shop", 200, {"kind": "first_time", "event": "discount_redeemed"}),
        ):
            published = await operator.post("/v1/missions", {
                "code": code, "title_th": code, "title_en": code, "reward": reward,
                "starts_at": T0.isoformat(), "period": "once", "limit": 1,
                "campaign": "welcome", "programme": "welcome", "rule": rule,
            })  # fmt: skip
            assert published.status_code == 201, published.text

        # Sign-up on the app: national ID, phone, consent; the code arrives by "SMS".
        app = Client(wallet.url)
        started = await app.post("/v1/signups", {
            "national_id": thai_national_id("510170098765"), "phone": "0865554433",
            "consent": {"terms_version": "kgo-terms-2026-01", "accepted": True},
        })  # fmt: skip
        assert started.status_code == 202, started.text
        signup = started.json()["signup_id"]
        wrong = await app.post(f"/v1/signups/{signup}/confirm", {"code": "000000"})
        if last_code(outbox) != "000000":
            assert wrong.status_code >= 400
        confirmed = await app.post(f"/v1/signups/{signup}/confirm", {"code": last_code(outbox)})
        assert confirmed.status_code == 201, confirmed.text
        session = confirmed.json()
        wallet_id = session["wallet_id"]
        me = Client(wallet.url, session["access_token"])

        async def balance(amount: int) -> dict[str, Any] | None:
            answer = await me.get(f"/v1/wallets/{wallet_id}")
            if answer.status_code != 200:
                return None
            body: dict[str, Any] = answer.json()
            return body if body["available"] == amount else None

        await until(lambda: balance(100))  # nobody called /v1/grants

        # Two rides and a first shop payment arrive on the topics; the wallet dies (-9) while
        # their completions stream in, and comes back.
        rides = [
            FarePaid(
                trip_id=uuid4(),
                wallet_id=wallet_id,
                validator_id="KKB-01-V01",
                route_id="kk-1",
                fare_product="one-baht-bus-2022",
                coins=50,
                baht_satang=100,
                occurred_at=T0 + timedelta(hours=h),
            )
            for h in (1, 9)
        ]
        payment = DiscountRedeemed(
            redemption_id=uuid4(),
            shop_id=uuid4(),
            wallet_id=wallet_id,
            hold_id=uuid4(),
            coins=20,
            discount_satang=2_000,
            bill_satang=10_000,
            occurred_at=T0 + timedelta(1),
        )
        await publish(topics["transit"], rides)
        await publish(topics["merchant"], [payment])
        await asyncio.sleep(0.5)
        wallet.kill()
        wallet.start()
        await until(lambda: balance(400))

        # A municipal activity: check in once, inside the window, with the code shown there.
        now = datetime.now(BANGKOK)
        scheduled = await operator.post("/v1/activities", {
            "code": "clean-up-day", "title_th": "วันทำความสะอาด", "title_en": "Clean-up day",
            "reward": 30, "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        })  # fmt: skip
        assert scheduled.status_code == 201, scheduled.text
        activity = scheduled.json()["activity_id"]
        shown = (await operator.get(f"/v1/activities/{activity}/code")).json()["code"]
        on_missions = Client(missions.url, session["access_token"])
        guessed = "00000000" if shown != "00000000" else "11111111"
        refused = await on_missions.post(f"/v1/activities/{activity}/check-ins", {"code": guessed})
        assert refused.json()["code"] == "check_in_code_invalid", refused.text
        checked = await on_missions.post(f"/v1/activities/{activity}/check-ins", {"code": shown})
        assert checked.status_code == 201, checked.text
        again = await on_missions.post(f"/v1/activities/{activity}/check-ins", {"code": shown})
        assert again.json()["code"] == "already_checked_in", again.text
        await until(lambda: balance(430))

        progress = (await on_missions.get(f"/v1/residents/{wallet_id}/missions")).json()
        assert progress["received"]["welcome"] == 400
        await asyncio.sleep(1.5)  # a late or second grant would show now
        assert await balance(430)

        # An outside fold of the wallet topic: conserved, one grant per completion.
        records = await read_topic(BOOTSTRAP, topics["wallet"], count=1, timeout=30)
        entries = []
        for record in records:
            headers = header_map(record.headers)
            entries.append((headers["ce_id"], headers["ce_type"], json.loads(record.value)))
        ledger = fold(entries)
        ledger.check_conservation()
        assert ledger.balances[wallet_id].available == 430
        granted = Counter(
            payload["reference"]
            for _, ce_type, payload in entries
            if ce_type == "kgo.wallet.CoinsGranted.v1" and payload["account_id"] == wallet_id
        )
        assert len(granted) == 4 and set(granted.values()) == {1}, granted  # signup, 2, act.
    finally:
        for process in reversed(processes):
            process.stop()
            process.drop_schema()
