"""`kgo serve wallet` with WALLET_HTTP_WORKERS=2: two processes answer on one port, each with
its own writer on the one event store; concurrent spends from one wallet, spread over both,
end at the exact balance, and the background components run in exactly one of them. Each
worker serves its own metrics on a port of its own, as the service lists them: the relay's
series are in one of them only."""

from __future__ import annotations

import asyncio
import contextlib
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
