"""kill -9 of a real `kgo serve missions` in the middle of a stream of registrations, bus
rides and shop payments arriving on three topics, partly twice and out of order: after a
restart, exactly one MissionCompleted per completion on the missions topic, the very
completions an in-memory replay of the same facts finds."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kgo_contracts.base import BANGKOK, ContractEvent
from kgo_contracts.merchant import DiscountRedeemed
from kgo_contracts.transit import FarePaid
from kgo_contracts.wallet import AccountOpened
from kgo_runtime.access import AccessSigner, Role
from kgo_runtime.envelope import OutgoingRecord, decode, encode, header_map
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, read_topic, unique_name
from services.missions.application import commands as c
from services.missions.application.service import MissionsApplication
from services.missions.entrypoints.consumer import fact_of

from .conftest import free_port

pytestmark = pytest.mark.e2e

BOOTSTRAP = InfraSettings().kafka_bootstrap
T0 = datetime(2022, 6, 9, 7, 0, tzinfo=BANGKOK)
RIDES = {
    "code": "two-rides", "title_th": "นั่งรถเมล์ 2 เที่ยว", "title_en": "Two rides a day",
    "reward": 60, "starts_at": T0.isoformat(), "period": "daily", "limit": 1,
    "campaign": "welcome", "programme": "welcome",
    "rule": {"kind": "count", "event": "fare_paid", "count": 2},
}  # fmt: skip
SHOPS = RIDES | {"code": "two-shops", "reward": 80, "period": "weekly",
                 "rule": {"kind": "distinct_shops", "shops": 2}}  # fmt: skip


class MissionsProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.url = f"http://127.0.0.1:{env['MISSIONS_HTTP_PORT']}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kgo_cli.main", "serve", "missions"],
                env=self.env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.2)
        self.process.kill()
        pytest.fail(f"missions not ready:\n{self.log.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def story(residents: int, rng: random.Random) -> list[ContractEvent]:
    shops = [uuid4() for _ in range(3)]
    events: list[ContractEvent] = []
    for _ in range(residents):
        w = uuid4()
        events.append(AccountOpened(account_id=w, account_kind="resident", account_version=1,
                                    occurred_at=T0))  # fmt: skip
        for _ in range(rng.randint(0, 6)):
            at = T0 + timedelta(minutes=rng.randint(0, 2 * 24 * 60))
            events.append(
                FarePaid(
                    trip_id=uuid4(),
                    wallet_id=w,
                    validator_id="v",
                    route_id="r",
                    fare_product="regular",
                    coins=1,
                    baht_satang=0,
                    occurred_at=at,
                )
            )
        for _ in range(rng.randint(0, 3)):
            events.append(DiscountRedeemed(
                redemption_id=uuid4(), shop_id=rng.choice(shops), wallet_id=w, hold_id=uuid4(),
                coins=5, discount_satang=500, bill_satang=2000,
                occurred_at=T0 + timedelta(minutes=rng.randint(0, 2 * 24 * 60))))  # fmt: skip
    rng.shuffle(events)  # across topics and in time: registrations may come after rides
    return events


def expected(batch: list[OutgoingRecord]) -> set[UUID]:
    oracle = MissionsApplication()
    for n, spec in enumerate((RIDES, SHOPS)):
        # the caller the service sees, so that the missions get the same ids
        cmd = c.PublishMission(idempotency_key=f"m{n}", caller="municipal_admin:e2e", at=T0,
                               spec=spec)  # fmt: skip
        oracle.execute(cmd)
    wallets = set()
    for record in batch:
        found = fact_of(decode(record.headers, record.value))
        if found is not None:
            wallets.add(found[0])
            oracle.observe(*found)
    return {d.completion_id for w in wallets for d in oracle.completions(w)}


async def completions_on(topic: str) -> dict[str, set[str]]:
    """completion id -> the ce_ids it was published under (relay republishing keeps one)."""
    records = await read_topic(BOOTSTRAP, topic, count=0, timeout=10)
    found: dict[str, set[str]] = {}
    for record in records:
        envelope = decode(record.headers, record.value)
        completion = getattr(envelope.event, "completion_id", None)
        if completion is not None:
            found.setdefault(str(completion), set()).add(header_map(record.headers)["ce_id"])
    return found


@pytest.mark.timeout(240)
async def test_missions_killed_mid_stream_completes_each_mission_once(tmp_path: Path) -> None:
    name = unique_name("e2e_missions")
    topics = {k: f"{name}.{k}" for k in ("missions", "wallet", "merchant", "transit")}
    all_topics = [*topics.values(), *(f"{t}.dlq" for t in topics.values())]
    await create_topics(BOOTSTRAP, all_topics, partitions=3)
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    env = {
        **os.environ,
        "KGO_HOME": str(tmp_path / "kgo"),
        "KGO_ACCESS_SIGNING_KEY": base64.urlsafe_b64encode(seed).rstrip(b"=").decode(),
        "MISSIONS_DATABASE_SCHEMA": name,
        "MISSIONS_HTTP_PORT": str(free_port()),
        **{f"MISSIONS_{k.upper()}_TOPIC": v for k, v in topics.items() if k != "missions"},
        "MISSIONS_EVENTS_TOPIC": topics["missions"],
    }
    service = MissionsProcess(env, tmp_path / "missions.log")
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True)
    try:
        service.start()
        admin = AccessSigner(key).issue(Role.MUNICIPAL_ADMIN, "e2e", None, timedelta(hours=1))
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
            for n, spec in enumerate((RIDES, SHOPS)):
                answer = await http.post(
                    "/v1/missions",
                    json=spec,
                    headers={"Authorization": f"Bearer {admin.token}", "Idempotency-Key": f"m{n}"},
                )
                assert answer.status_code == 201, answer.text

        rng = random.Random(11)
        where = {AccountOpened: topics["wallet"], FarePaid: topics["transit"],
                 DiscountRedeemed: topics["merchant"]}  # fmt: skip
        batch = [
            encode(e, ce_id=str(uuid4()), source="/kgo/e2e", topic_for=lambda e: where[type(e)])
            for e in story(150, rng)
        ]
        stream = batch + rng.sample(batch, k=len(batch) // 4)  # a quarter delivered twice
        want = {str(cid) for cid in expected(batch)}

        await producer.start()

        async def send(records: list[OutgoingRecord]) -> None:
            for r in records:
                await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
            await producer.flush()

        half = len(stream) // 2
        await send(stream[:half])
        out_at_kill = 0
        for _ in range(300):  # kill it once some completions are out, mid-stream
            out_at_kill = len(await completions_on(topics["missions"]))
            if out_at_kill >= 5:
                break
            await asyncio.sleep(0.1)
        service.kill()
        assert 5 <= out_at_kill < len(want)
        await send(stream[half:])
        service.start()

        found: dict[str, set[str]] = {}
        for _ in range(120):
            found = await completions_on(topics["missions"])
            if set(found) >= want:
                break
            await asyncio.sleep(0.5)
        assert set(found) == want
        assert all(len(ce_ids) == 1 for ce_ids in found.values()), "a completion was recorded twice"
    finally:
        service.stop()
        await producer.stop()
        await delete_topics(BOOTSTRAP, all_topics)
        with psycopg.connect(InfraSettings().database_url("missions"), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
