"""`kgo simulate`'s city on real `kgo serve` processes (wallet and missions) sharing a
simulated business clock: a tiny city, five days around the campaign's start, run twice on
fresh data with the same seed (the first stopped after three days and resumed); the totals,
command and event counts compare equal, and folding the wallet's topic gives every balance
the wallet answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from kgo_cli.simulate.plan import CityConfig
from kgo_cli.simulate.runner import Endpoints, Simulator
from kgo_contracts.base import BANGKOK
from kgo_contracts.fold import fold
from kgo_runtime.clock import set_shared_time
from kgo_runtime.kafka_admin import topic_partitions
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name

from .platform import ServiceProcess, service_process

pytestmark = pytest.mark.e2e

BOOTSTRAP = InfraSettings().kafka_bootstrap
CITY = CityConfig(seed=7, residents=40, shops=5, start=date(2022, 6, 8), end=date(2022, 6, 12))


async def all_records(topic: str) -> list[tuple[str, str, dict[str, Any]]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(BOOTSTRAP, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out = []

        async def behind() -> bool:
            return any([await consumer.position(p) < ends[p] for p in partitions])

        while await behind():
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for r in batch:
                    headers = {k: v.decode() for k, v in r.headers}
                    out.append((headers["ce_id"], headers["ce_type"], json.loads(r.value)))
        return out
    finally:
        await consumer.stop()


async def run_city(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, stop_after: int | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    name = unique_name("e2e.sim")
    topics = {k: f"{name}.{k}" for k in ("wallet", "missions", "merchant", "transit")}
    every = [*topics.values(), *(f"{t}.dlq" for t in topics.values())]
    await create_topics(BOOTSTRAP, every, partitions=3)
    home = tmp / "kgo"
    monkeypatch.setenv("KGO_HOME", str(home))
    set_shared_time(
        home / "clock.json", datetime.combine(CITY.start - timedelta(days=1), time(9), BANGKOK)
    )
    shared = {
        "KGO_CLOCK": "shared",
        "KGO_PROFILE": "demo",
        "WALLET_CODE_SENDS_PER_ADDRESS": "1000000",
        "WALLET_CODE_CHECKS_PER_ADDRESS": "1000000",
    }
    wallet = service_process(
        "wallet",
        home,
        {
            **shared,
            "WALLET_EVENTS_TOPIC": topics["wallet"],
            "WALLET_MISSIONS_TOPIC": topics["missions"],
            "WALLET_MISSIONS_CONSUMER": name.replace(".", "_"),
        },
        tmp,
    )
    processes: list[ServiceProcess] = [wallet]
    try:
        wallet.start()
        from kgo_cli.platform_setup import prepare_treasury
        from services.wallet.settings import WalletSettings

        monkeypatch.setenv("WALLET_DATABASE_SCHEMA", wallet.schema)
        await prepare_treasury(
            WalletSettings(
                database_schema=wallet.schema, http_port=int(wallet.url.rsplit(":", 1)[1])
            )
        )
        missions = service_process(
            "missions",
            home,
            {
                **shared,
                "MISSIONS_WALLET_TOPIC": topics["wallet"],
                "MISSIONS_EVENTS_TOPIC": topics["missions"],
                "MISSIONS_MERCHANT_TOPIC": topics["merchant"],
                "MISSIONS_TRANSIT_TOPIC": topics["transit"],
                "MISSIONS_WALLET_URL": wallet.url,
            },
            tmp,
        )
        processes.append(missions)
        missions.start()

        def simulator_() -> Simulator:
            urls = Endpoints(wallet=wallet.url, missions=missions.url)
            return Simulator(CITY, home, urls, concurrency=8, direct=True)

        if stop_after is not None:  # stopped early, then resumed by a new process
            await simulator_().run(until=stop_after)
            stopped = json.loads((home / "simulation.json").read_text())
            assert stopped["next_day"] == stop_after
        simulator = simulator_()
        await simulator.run()
        summary = await simulator.summary()
        admin = (home / "secrets" / "admin.token").read_text().strip()
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {admin}"}) as http:
            answers = {}
            for wallet_id in simulator.wallets.values():
                answer = (await http.get(f"{wallet.url}/v1/wallets/{wallet_id}")).json()
                answers[wallet_id] = (answer["available"], answer["held"])
        for _ in range(60):  # the relay publishes shortly after each commit
            records = await all_records(topics["wallet"])
            ledger = fold(records)
            folded = {
                w: (ledger.balances[w].available, ledger.balances[w].held)
                for w in answers
                if w in ledger.balances
            }
            if folded == answers:
                break
            await asyncio.sleep(0.5)
        assert folded == answers
        ledger.check_conservation()
        summary["wallet_records"] = len(records)
        state = json.loads((home / "simulation.json").read_text())
        assert state["next_day"] == CITY.days
        # resume: a finished simulation has nothing left to do, and repeats nothing
        again = Simulator(
            CITY, home, Endpoints(wallet=wallet.url, missions=missions.url), direct=True
        )
        await again.run()
        assert again.totals.as_dict() == simulator.totals.as_dict()
        return summary, state
    finally:
        for process in reversed(processes):
            process.stop()
            process.drop_schema()
        await delete_topics(BOOTSTRAP, every)


@pytest.fixture
async def nothing() -> AsyncIterator[None]:
    yield


@pytest.mark.timeout(600)
async def test_same_seed_same_totals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = await run_city(tmp_path / "one", monkeypatch, stop_after=3)
    counts = first["totals"]["counts"]
    assert counts["residents_signed_up"] == first["residents"] > 0
    assert counts["welcome_received"] == first["residents"]
    assert counts["redemptions"] > 0 and counts["rides_coins"] > 0 and counts["check_ins"] > 0
    assert first["coins_granted"] >= 100 * first["residents"]
    second, _ = await run_city(tmp_path / "two", monkeypatch)
    assert first == second
