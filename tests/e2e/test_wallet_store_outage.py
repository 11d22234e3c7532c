"""The wallet's PostgreSQL stopped (immediate mode) in the middle of a stream of grants, then
started again: while it is down every write is answered 503 within its deadline, never 500;
once it is back the writer and the relay go on by themselves; every grant retried with its
key lands exactly once, and the topic still folds to the ledger.

The cluster is the test's own (a throwaway PostgreSQL on a free port, made with
``kgo_cli.infra.postgres``), never the shared one; Kafka is the shared broker, on topics of
the test's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from kgo_cli.infra import postgres
from kgo_runtime.access import AccessSettings, AccessSigner, Role, signing_key
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name

from .conftest import WalletProcess, free_port
from .test_wallet_journey import thai_national_id

pytestmark = pytest.mark.e2e

WORKERS, AMOUNT = 8, 1
NOT_DECIDED = {"store_unavailable", "deadline_exceeded", "overloaded"}


class Cluster:
    """A private PostgreSQL cluster this test may stop and start as it likes."""

    def __init__(self, home: Path) -> None:
        self.settings = InfraSettings(home=home, pg_port=free_port())
        self.paths = postgres.paths(self.settings)

    def start(self) -> None:
        postgres.start(self.settings)

    def stop_immediately(self) -> None:
        """As a crash would: no checkpoint, every session cut."""
        pg_ctl = str(self.settings.pg_bin_dir / "pg_ctl")
        argv = [pg_ctl, "-D", str(self.paths.data_dir), "-m", "immediate", "-w", "stop"]
        subprocess.run(postgres._owner_cmd(argv), check=True, capture_output=True)

    def remove(self) -> None:
        if postgres.running_pid(self.settings) is not None:
            self.stop_immediately()  # its data is thrown away: no need for a checkpoint
        shutil.rmtree(self.paths.root, ignore_errors=True)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not (InfraSettings().pg_bin_dir / "pg_ctl").exists():
        pytest.skip("PostgreSQL server binaries are not installed")
    cluster = Cluster(tmp_path / "kgo-home")
    cluster.start()
    with postgres.connect(cluster.settings) as conn:
        conn.execute(f"CREATE DATABASE {cluster.settings.database_name('wallet')}")
    yield cluster
    cluster.remove()


@pytest.fixture
async def wallet_on(cluster: Cluster, tmp_path: Path) -> AsyncIterator[WalletProcess]:
    bootstrap = InfraSettings().kafka_bootstrap
    topic = unique_name("e2e.outage")
    await create_topics(bootstrap, [topic, f"{topic}.missions"], partitions=3)
    port = free_port()
    env = {
        **os.environ,
        "KGO_HOME": str(cluster.settings.home),
        "WALLET_DATABASE_URL": cluster.settings.database_url("wallet"),
        "WALLET_EVENTS_TOPIC": topic,
        "WALLET_MISSIONS_TOPIC": f"{topic}.missions",
        "WALLET_MISSIONS_CONSUMER": unique_name("outage"),
        "WALLET_HTTP_PORT": str(port),
    }
    process = WalletProcess(f"http://127.0.0.1:{port}", env, topic, tmp_path / "wallet.log")
    process.start()
    yield process
    process.stop()
    await delete_topics(bootstrap, [topic, f"{topic}.missions"])


@dataclass
class Answer:
    key: str
    status: int | None  # None: no answer (the connection failed)
    code: str | None
    seconds: float
    retry_after: str | None
    movement_id: str | None


async def test_a_store_outage_answers_503_fast_and_loses_or_doubles_nothing(
    wallet_on: WalletProcess, cluster: Cluster
) -> None:
    wallet = wallet_on
    signer = AccessSigner(signing_key(AccessSettings(home=cluster.settings.home)))

    def client(role: Role, name: str) -> httpx.AsyncClient:
        token = signer.issue(role, name, None, timedelta(hours=1)).token
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.AsyncClient(base_url=wallet.url, headers=headers, timeout=30)

    admin, service = client(Role.MUNICIPAL_ADMIN, "admin"), client(Role.SERVICE, "missions")

    async def post(api: httpx.AsyncClient, path: str, body: dict, key: str) -> httpx.Response:
        return await api.post(path, json=body, headers={"Idempotency-Key": key})

    for path, body in [
        ("/v1/treasury/genesis", {}),
        ("/v1/budgets", {"programme": "welcome", "label": "Welcome"}),
        ("/v1/budgets/welcome/allocations", {"amount": 100_000}),
    ]:
        assert (await post(admin, path, body, uuid4().hex)).status_code == 201
    resident = await post(
        admin, "/v1/residents",
        {"national_id": thai_national_id("510170054321"), "phone": "0833333333"}, uuid4().hex,
    )  # fmt: skip
    wallet_id = resident.json()["wallet_id"]

    def grant(key: str) -> dict:
        return {"programme": "welcome", "wallet_id": wallet_id, "amount": AMOUNT,
                "reason": "outage", "reference": key}  # fmt: skip

    answers: list[Answer] = []
    stop = asyncio.Event()

    async def send(key: str) -> Answer:
        started = time.monotonic()
        try:
            response = await post(service, "/v1/grants", grant(key), key)
        except httpx.HTTPError:
            return Answer(key, None, None, time.monotonic() - started, None, None)
        body = response.json()
        return Answer(
            key, response.status_code, body.get("code"), time.monotonic() - started,
            response.headers.get("retry-after"), body.get("movement_id"),
        )  # fmt: skip

    async def worker(n: int) -> None:
        i = 0
        while not stop.is_set():
            answers.append(await send(f"w{n}-{i}"))
            i += 1
            await asyncio.sleep(0.02)

    workers = [asyncio.create_task(worker(n)) for n in range(WORKERS)]
    await asyncio.sleep(2)
    cluster.stop_immediately()
    down_at = len(answers)
    await asyncio.sleep(6)
    cluster.start()
    back = time.monotonic()
    restarted_at = len(answers)
    first_ok_after: float | None = None
    while time.monotonic() - back < 30:
        if any(a.status == 201 for a in answers[restarted_at:]):
            first_ok_after = time.monotonic() - back
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)
    stop.set()
    await asyncio.gather(*workers)

    during = answers[down_at:restarted_at]
    assert during, "no request was answered while the store was down"
    unanswered = [a for a in answers if a.status is None]
    assert unanswered == [], (
        f"{len(unanswered)} requests hung up to {max(a.seconds for a in answers):.0f} s"
    )
    assert [a for a in answers if a.status == 500] == []
    refused = [a for a in answers if a.status is not None and a.status != 201]
    assert refused, "the outage should have refused some writes"
    assert {(a.status, a.code) for a in refused} <= {(503, code) for code in NOT_DECIDED}
    assert all(a.retry_after for a in refused)
    # Every caller heard within its deadline (5 s), not after the outage was over.
    assert max(a.seconds for a in during) < 10, sorted(a.seconds for a in during)[-5:]
    assert first_ok_after is not None and first_ok_after < 15, first_ok_after

    # Every caller retries what was not answered 201, with the same key, until it is.
    first = {a.key: a for a in answers}
    pending = [k for k, a in first.items() if a.status != 201]
    for _ in range(20):
        again = await asyncio.gather(*(send(k) for k in pending))
        for answer in again:
            if answer.status == 201:
                first[answer.key] = answer
        pending = [a.key for a in again if a.status != 201]
        if not pending:
            break
        await asyncio.sleep(0.5)
    assert not pending
    accepted = [a for a in answers if a.status == 201]
    replays = await asyncio.gather(*(send(a.key) for a in accepted))
    # Accepted before: a retry gets the same movement.
    assert [r.movement_id for r in replays] == [a.movement_id for a in accepted]
    movements = {a.movement_id for a in first.values()}
    assert len(movements) == len(first)
    balance = (await admin.get(f"/v1/wallets/{wallet_id}")).json()
    assert balance["available"] == AMOUNT * len(first)

    rebuilt = wallet.kgo("wallet", "rebuild", "--wait", "30")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    await admin.aclose()
    await service.aclose()

    assert wallet.stop() == 0
    lines = [json.loads(line) for line in wallet.log.read_text().splitlines()
             if line.startswith("{")]  # fmt: skip
    text = wallet.log.read_text()
    assert "connection has been released back to the pool" not in text
    relay_restarts = [line for line in lines if line.get("event") == "component failed; restarting"
                      and str(line.get("component", "")).startswith("relay")]  # fmt: skip
    assert relay_restarts == []
    stopped = next(i for i, line in enumerate(lines) if line.get("event") == "service stopped")
    assert not [line for line in lines[stopped:] if "restarting" in str(line.get("event"))]
