"""`kgo serve wallet` with WALLET_HTTP_WORKERS=2: two processes answer on one port, each with
its own writer on the one event store; concurrent spends from one wallet, spread over both,
end at the exact balance, and the background components run in exactly one of them; a
worker killed mid-load loses and doubles nothing. Each
worker serves its own metrics on a port of its own, as the service lists them: the relay's
series are in one of them only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import psycopg
import pytest

from kgo_cli.simulate.barrier import Quiescence, relay_names
from kgo_runtime.leadership import lock_key
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.targets import TARGETS_PATH, listed
from kgo_runtime.testing import unique_name

from .conftest import WalletProcess, free_port, free_process_ports, wallet_env
from .test_wallet_journey import Api, thai_national_id

pytestmark = pytest.mark.e2e

SPENDS, AMOUNT, FUNDS = 40, 50, 1_000


@pytest.fixture
def two_workers(topic: str, tmp_path: Path) -> Iterator[tuple[WalletProcess, str]]:
    schema, port = unique_name("e2e_workers"), free_port()
    env = wallet_env(
        schema, topic, port,
        WALLET_HTTP_WORKERS="2", WALLET_PROCESS_METRICS_PORT=str(free_process_ports(2)),
    )  # fmt: skip
    process = WalletProcess(f"http://127.0.0.1:{port}", env, topic, tmp_path / "wallet.log")
    _start(process)
    yield process, schema
    assert process.stop() == 0, process.log.read_text()
    with psycopg.connect(InfraSettings().database_url("wallet"), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _start(wallet: WalletProcess, timeout: float = 180) -> None:
    """WalletProcess.start with more time: two workers import and build at once."""
    with wallet.log.open("ab") as out:
        wallet.process = subprocess.Popen(
            [sys.executable, "-m", "kgo_cli.main", "serve", "wallet"],
            env=wallet.env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{wallet.url}/readyz", timeout=2).status_code == 200:
                return
        assert wallet.process.poll() is None, wallet.log.read_text()
        time.sleep(0.3)
    wallet.process.terminate()
    pytest.fail(f"wallet not ready:\n{wallet.log.read_text()}")


def _workers(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children]


async def test_two_workers_spend_one_wallet_to_the_exact_balance(two_workers):
    wallet, schema = two_workers
    assert wallet.process is not None and len(_workers(wallet.process.pid)) == 2
    admin = Api(wallet.url, wallet.token("municipal_admin", "w-admin"))
    await admin.post("/v1/treasury/genesis", {})
    await admin.post("/v1/budgets", {"programme": "welcome", "label": "Welcome"})
    await admin.post("/v1/budgets/welcome/allocations", {"amount": 10_000})
    resident = await admin.post(
        "/v1/residents", {"national_id": thai_national_id("510170054321"), "phone": "0833333333"}
    )
    wallet_id = resident.json()["wallet_id"]
    service_token = wallet.token("service", "w-service")
    service = Api(wallet.url, service_token)
    grant = {"programme": "welcome", "wallet_id": wallet_id, "amount": FUNDS, "reason": "r"}
    assert (await service.post("/v1/grants", {**grant, "reference": "g"})).status_code == 201
    shop = (
        await admin.post("/v1/payees", {"kind": "shop", "external_ref": "w2", "label": "W2"})
    ).json()["account_id"]
    phone = Api(wallet.url, wallet.token("resident", "w-resident", wallet_id))
    codes = [(await phone.post("/v1/payment-codes", {})).json()["code"] for _ in range(SPENDS)]

    # A new connection per request, so the kernel spreads them over both workers.
    async with httpx.AsyncClient(
        base_url=wallet.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0),
        headers={"Authorization": f"Bearer {service_token}"},
    ) as fresh:  # fmt: skip

        async def spend(i: int) -> tuple[int, str]:
            body = {"payee_id": shop, "amount": AMOUNT, "reference": f"bill-{i}",
                    "authorisation": {"kind": "payment_code", "code": codes[i]}}  # fmt: skip
            response = await fresh.post(
                "/v1/spends", json=body, headers={"Idempotency-Key": uuid4().hex}
            )
            answer = response.json()
            return response.status_code, f"{answer.get('code')}: {answer.get('detail')}"

        answers = await asyncio.gather(*(spend(i) for i in range(SPENDS)))
    statuses = [status for status, _ in answers]
    refused = Counter(code for status, code in answers if status != 201)
    balance = (await admin.get(f"/v1/wallets/{wallet_id}")).json()
    told = (statuses.count(201), refused, balance)
    assert statuses.count(201) == FUNDS // AMOUNT, told
    assert sum(refused.values()) == SPENDS - FUNDS // AMOUNT, told
    assert all(code.startswith("insufficient_funds:") for code in refused), told
    assert balance["available"] == 0 and balance["held"] == 0
    shop_balance = (await admin.get(f"/v1/wallets/{shop}")).json()
    assert shop_balance["available"] == FUNDS

    # One of the two holds the background lock: this connection cannot take it.
    key = lock_key("wallet", schema)
    with psycopg.connect(InfraSettings().database_url("wallet"), autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        assert row is not None and row[0] is False

    await _each_worker_is_a_scrape_target_of_its_own(wallet)


async def _each_worker_is_a_scrape_target_of_its_own(wallet: WalletProcess) -> None:
    answer = httpx.get(f"{wallet.url}{TARGETS_PATH}", timeout=5).json()
    workers = [t.url for t in listed(answer)]
    assert [group["labels"]["role"] for group in answer] == ["worker", "worker"]
    assert wallet.url not in workers  # the shared port answers from either: not a target

    def relays() -> list[str]:
        pages = [httpx.get(f"{url}/metrics", timeout=5).text for url in workers]
        return [url for url, page in zip(workers, pages, strict=True) if relay_names(page)]

    deadline = time.monotonic() + 60
    while len(found := relays()) != 1:  # the leader opens its relay once it has the lock
        assert time.monotonic() < deadline, found
        time.sleep(0.3)
    assert httpx.post(f"{workers[0]}/v1/treasury/genesis", timeout=5).status_code == 404
    # The barrier reads both: the relay from whichever leads, and waits for nothing else.
    async with httpx.AsyncClient() as client:
        barrier = Quiescence(lambda: client, [wallet.url], InfraSettings().kafka_bootstrap)
        try:
            assert await barrier.wait(timeout=60)
        finally:
            await barrier.close()
    assert barrier.seen.targets == {wallet.url: workers}


RIDERS, FARES, FUNDED = 6, 30, 20


async def test_a_worker_killed_mid_load_loses_and_doubles_nothing(two_workers):
    """Fares from a few riders to one operator (every spend credits the same account, so
    the two workers' writers take turns), spread over both workers; one worker is killed
    (SIGKILL) mid-load, maybe holding the turn: the other goes on, the parent starts a new
    one, and every fare retried with its key ends in exactly one answer. Each rider pays
    exactly its funds, the operator gets their sum, and every key replays its answer."""
    wallet, _schema = two_workers
    assert wallet.process is not None
    admin = Api(wallet.url, wallet.token("municipal_admin", "k-admin"))
    await admin.post("/v1/treasury/genesis", {})
    await admin.post("/v1/budgets", {"programme": "welcome", "label": "Welcome"})
    await admin.post("/v1/budgets/welcome/allocations", {"amount": 10_000})
    bus = {"kind": "operator", "external_ref": "k-bus", "label": "Bus"}
    operator = (await admin.post("/v1/payees", bus)).json()["account_id"]
    service_token = wallet.token("service", "k-service")
    service = Api(wallet.url, service_token)
    riders, passes = [], []
    for i in range(RIDERS):
        resident = await admin.post(
            "/v1/residents",
            {"national_id": thai_national_id(f"5101700{i:05d}"), "phone": f"08444444{i:02d}"},
        )
        rider = resident.json()["wallet_id"]
        grant = {"programme": "welcome", "wallet_id": rider, "amount": FUNDED, "reason": "r"}
        granted = await service.post("/v1/grants", {**grant, "reference": f"k{i}"})
        assert granted.status_code == 201, granted.text
        linked = await Api(wallet.url, wallet.token("resident", f"k-r{i}", rider)).post(
            "/v1/transit-passes", {}
        )
        riders.append(rider)
        passes.append(linked.json()["pass"])
    fares = [(r, n, uuid4().hex) for n in range(FARES) for r in range(RIDERS)]
    answered: dict[str, tuple[int, str]] = {}
    retried = Counter[str]()

    async with httpx.AsyncClient(
        base_url=wallet.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0),
        headers={"Authorization": f"Bearer {service_token}"},
    ) as fresh:  # fmt: skip

        async def fare(rider: int, n: int, key: str) -> tuple[int, str]:
            body = {"payee_id": operator, "amount": 1, "reference": f"fare-{rider}-{n}",
                    "authorisation": {"kind": "transit_pass", "pass": passes[rider]}}  # fmt: skip
            for _ in range(600):
                try:
                    response = await fresh.post(
                        "/v1/spends", json=body, headers={"Idempotency-Key": key}
                    )
                except httpx.TransportError:
                    retried["transport"] += 1  # the killed worker's connections
                else:
                    if response.status_code < 500:
                        return response.status_code, str(response.json().get("code"))
                    retried[str(response.status_code)] += 1  # undecided: ask again
                await asyncio.sleep(0.05)
            raise AssertionError(f"fare {key} never answered")

        gate = asyncio.Semaphore(12)

        async def one(rider: int, n: int, key: str) -> None:
            async with gate:
                answered[key] = await fare(rider, n, key)

        tasks = [asyncio.create_task(one(*f)) for f in fares]
        while len(answered) < len(fares) // 3:
            await asyncio.sleep(0.01)
        victim = _workers(wallet.process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        await asyncio.gather(*tasks)

        # Every key replays the answer it got.
        for rider, n, key in fares[:: len(fares) // 12]:
            assert await fare(rider, n, key) == answered[key]

    by_rider = Counter(r for r, _n, key in fares if answered[key][0] == 201)
    refused = Counter(answered[key][1] for _r, _n, key in fares if answered[key][0] != 201)
    told = (by_rider, refused, retried)
    print("retried after the kill:", dict(retried))
    assert by_rider == {r: FUNDED for r in range(RIDERS)}, told
    assert refused == {"insufficient_funds": RIDERS * (FARES - FUNDED)}, told
    for rider in riders:
        balance = (await admin.get(f"/v1/wallets/{rider}")).json()
        assert (balance["available"], balance["held"]) == (0, 0), balance
    paid = (await admin.get(f"/v1/wallets/{operator}")).json()
    assert paid["available"] == RIDERS * FUNDED, (paid, told)
    # The parent started a new worker in place of the killed one (until the parent reaps it,
    # the killed one is still listed among its children: the fares may all be answered first).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = _workers(wallet.process.pid)
        if victim not in workers and len(workers) == 2:
            break
        await asyncio.sleep(0.2)
    assert victim not in _workers(wallet.process.pid)
    assert len(_workers(wallet.process.pid)) == 2
