"""The integrity read model on the real Kafka and Postgres: a small city history with a
cash-out pair in it (a resident redeeming at the bill's limit at one shop day after day, the
shop paying most of the coins back as "rewards") goes through the projections app's own
integrity consumer; operators read the flags over HTTP, nobody else can; a re-delivered
history changes nothing; a malformed record is dead-lettered and the consumer goes on."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from kgo_contracts import merchant as mc
from kgo_contracts import topics as names
from kgo_contracts import wallet as w
from kgo_contracts.base import BANGKOK
from kgo_runtime.access import AccessSigner, AccessVerifier, Authenticator, Role
from kgo_runtime.clock import ManualClock
from services.projections.bootstrap import create_app
from services.projections.integrity_settings import IntegritySettings
from services.projections.settings import ProjectionsSettings

from .conftest import BOOTSTRAP, produce, records
from .history import START, History, build

pytestmark = pytest.mark.integration


def collude(h: History, days: int = 6) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A resident and shop 0 cashing out: each day a bill whose 50% the coins pay exactly,
    and the shop's "reward" sending most of the coins back the same evening."""
    resident, shop, payee = h.id("resident-0"), h.id("shop-ref-0"), h.id("shop-0")
    budget = h.id("budget-welcome")
    at = START + timedelta(days=25)
    h.move(w.GrantDisbursed, w.CoinsGranted, budget, resident, 300, at, programme="welcome",
           reason="bonus", reference="bonus-0")  # fmt: skip
    for day in range(days):
        at = START + timedelta(days=25 + day, hours=12)
        hold = uuid.uuid4()
        h._leg(w.CoinsHeld, h.accounts[resident], 100, -1, 1, at, movement_id=uuid.uuid4(),
               hold_id=hold, payee_account_id=payee, expires_at=at + timedelta(minutes=2),
               reference=f"cash-{day}")  # fmt: skip
        h.move(w.HoldCaptured, w.PaymentReceived, resident, payee, 100, at,
               debit_from_held=True, hold_id=hold, reference=f"cash-{day}")  # fmt: skip
        h.events.append(
            mc.DiscountRedeemed(
                redemption_id=h.id(f"cash-redemption-{day}"), shop_id=shop, wallet_id=resident,
                hold_id=hold, coins=100, discount_satang=10_000, bill_satang=20_000,
                occurred_at=at,
            )
        )  # fmt: skip
        h.move(w.RewardPaid, w.CoinsRewarded, payee, resident, 90, at + timedelta(hours=6),
               reference=f"kickback-{day}")  # fmt: skip
    return resident, shop, payee


def farm(h: History, wallets: int = 4) -> tuple[str, list[uuid.UUID]]:
    """Wallets opened in the app from one device within 40 minutes (a sign-up farm), each
    from a new network: the wallet's day-keyed pseudonym of the device is what they share."""
    device = uuid.uuid4().hex
    opened = [
        h.open(f"farmed-{i}", "resident", START + timedelta(days=20, minutes=10 * i),
               origin_device=device, origin_network=uuid.uuid4().hex)
        for i in range(wallets)
    ]  # fmt: skip
    return device, opened


def flags(client: TestClient, token: str, **params: Any) -> dict[str, Any]:
    answer = client.get("/v1/integrity/flags", params=params,
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def settled(client: TestClient, token: str, want: int) -> dict[str, Any]:
    """The flags once the integrity consumer read every record (and ``want`` flags exist)."""
    body: dict[str, Any] = {}
    for _ in range(1200):
        answer = client.get("/v1/integrity/flags", headers={"Authorization": f"Bearer {token}"})
        if answer.status_code == 200:  # 503 while starting
            body = answer.json()
            if body["as_of"]["records_behind"] == 0 and len(body["flags"]) >= want:
                return body
        time.sleep(0.05)
    raise TimeoutError(f"integrity consumer never caught up: {body}")


async def dead_letters(topic: str, consumer: str) -> list[dict[str, str]]:
    reader = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await reader.start()
    try:
        tps = [TopicPartition(names.dlq(topic), p) for p in range(3)]
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        found = []
        for batch in (await reader.getmany(*tps, timeout_ms=2000)).values():
            for r in batch:
                headers = {k: v.decode() for k, v in r.headers}
                if headers.get("kgo_dlq_consumer") == consumer:
                    found.append(headers)
        return found
    finally:
        await reader.stop()


async def test_operators_see_a_cash_out_pair_flagged_with_its_reasons(
    settings: ProjectionsSettings,
) -> None:
    history = build(residents=20, seed=3)
    resident, shop, payee = collude(history)
    device, farmed = farm(history)
    produced = records(settings, history.events)
    await produce(produced)
    integrity = IntegritySettings(consumer_name=f"{settings.consumer_name}_integrity")
    key = Ed25519PrivateKey.generate()
    clock = ManualClock(datetime(2022, 7, 10, 12, 0, tzinfo=BANGKOK))
    access = Authenticator(verifier=AccessVerifier(key.public_key(), clock=clock))
    signer = AccessSigner(key, clock=clock)
    auditor = signer.issue(Role.AUDITOR, "audit", None, timedelta(minutes=5)).token
    admin = signer.issue(Role.MUNICIPAL_ADMIN, "admin", None, timedelta(minutes=5)).token
    mine = signer.issue(Role.RESIDENT, "resident", str(resident), timedelta(minutes=5)).token
    shop_token = signer.issue(Role.PAYEE, "shop", str(payee), timedelta(minutes=5)).token
    app = create_app(settings, clock=clock, access=access, integrity=integrity)

    with TestClient(app) as client:
        body = settled(client, auditor, 4)
        assert body["as_of"]["business_time"] is not None
        by_kind = {f["kind"]: f for f in body["flags"]}
        assert set(by_kind) == {"pair_at_cap", "few_residents", "coin_cycle",
                                "signup_origin_burst"}, by_kind  # fmt: skip
        burst = by_kind["signup_origin_burst"]
        assert burst["subject"] == f"device:{device}"
        assert sorted(burst["accounts"]) == sorted(str(a) for a in farmed)
        assert "4 resident wallets opened from one device within 60 minutes" in burst["reason"]
        assert burst["evidence"]["opened"] == 4
        pair = by_kind["pair_at_cap"]
        assert pair["accounts"] == [str(resident)] and pair["shop_id"] == str(shop)
        assert "the most coins the bill allowed" in pair["reason"]
        assert by_kind["few_residents"]["accounts"] == [str(resident)]
        cycle = by_kind["coin_cycle"]
        assert set(cycle["accounts"]) == {str(resident), str(payee)}
        assert cycle["evidence"]["coins"] >= 100

        # Filters, one flag by id, and problems.
        assert [f["kind"] for f in flags(client, admin, kind="coin_cycle")["flags"]] == [
            "coin_cycle"
        ]
        assert {f["kind"] for f in flags(client, admin, shop=str(shop))["flags"]} == {
            "pair_at_cap", "few_residents",
        }  # fmt: skip
        later = (START + timedelta(days=60)).isoformat()
        assert flags(client, admin, since=later)["flags"] == []
        one = client.get(f"/v1/integrity/flags/{pair['flag_id']}",
                         headers={"Authorization": f"Bearer {auditor}"})  # fmt: skip
        assert one.status_code == 200 and one.json()["flag"] == pair
        assert "as_of" in one.json()
        missing = client.get(f"/v1/integrity/flags/{uuid.uuid4()}",
                             headers={"Authorization": f"Bearer {auditor}"})  # fmt: skip
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert missing.json()["code"] == "flag_unknown"
        wrong = client.get("/v1/integrity/flags", params={"kind": "nope"},
                           headers={"Authorization": f"Bearer {auditor}"})  # fmt: skip
        assert wrong.status_code in (400, 422)
        assert wrong.headers["content-type"].startswith("application/problem+json")

        # Never public, never the resident's or the shop's.
        assert client.get("/v1/integrity/flags").status_code == 401
        for token in (mine, shop_token):
            denied = client.get("/v1/integrity/flags",
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert denied.status_code == 403

        # Counted in metrics by kind, with no resident in any label.
        text = client.get("/metrics").text
        assert 'kgo_integrity_flags{kind="pair_at_cap"} 1.0' in text
        assert 'kgo_integrity_flags{kind="signup_burst"} 0.0' in text
        assert 'kgo_integrity_flags{kind="signup_origin_burst"} 1.0' in text
        assert device not in text
        assert str(resident) not in text

        # The same records again (a relay re-sending) and a malformed one: nothing changes,
        # the bad record is dead-lettered by the integrity consumer, which carries on.
        await produce(produced[-20:])
        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
        await producer.start()
        try:
            await producer.send_and_wait(settings.merchant_topic, b"{not json", key=b"x")
        finally:
            await producer.stop()
        for _ in range(200):
            lettered = await dead_letters(settings.merchant_topic, integrity.consumer_name)
            if lettered:
                break
            await asyncio.sleep(0.1)
        assert lettered and lettered[0]["kgo_dlq_source_topic"] == settings.merchant_topic
        again = settled(client, auditor, 4)
        assert again["flags"] == body["flags"]


async def test_the_sign_ups_table_of_an_earlier_release_gets_its_origin_columns() -> None:
    import asyncpg

    from kgo_runtime.postgres import create_tables
    from kgo_runtime.settings import InfraSettings
    from kgo_runtime.testing import fresh_schema
    from services.projections.adapters.integrity_store import integrity_ddl

    dsn = InfraSettings().database_url("projections")
    async with fresh_schema(dsn, "t_integrity") as schema:
        pool = await asyncpg.create_pool(dsn, min_size=0, max_size=2)
        try:
            await pool.execute(f"CREATE TABLE {schema}.integrity_signups (account_id uuid"
                               " PRIMARY KEY, occurred_at timestamptz NOT NULL)")  # fmt: skip
            await pool.execute(f"INSERT INTO {schema}.integrity_signups VALUES ($1, now())",
                               uuid.uuid4())  # fmt: skip
            for _ in range(2):  # every start runs it
                await create_tables(pool, integrity_ddl(schema))
            rows = await pool.fetch(f"SELECT * FROM {schema}.integrity_signups")
            assert [(r["origin_device"], r["origin_network"]) for r in rows] == [(None, None)]
        finally:
            await pool.close()
