"""`kgo serve wallet` with WALLET_BACKGROUND_PROCESS=true: one process serves HTTP only, one
more runs the relay, directory, sweeper and missions consumer and serves nothing. A spend
answered by the first reaches Kafka through the second; the second, killed, is started again
and takes the background lock back, while the first keeps answering; both stop with the
supervisor."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from kgo_runtime.leadership import lock_key
from kgo_runtime.roles import ROLE_ENV
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import unique_name

from .conftest import WalletProcess, free_port
from .test_wallet_journey import Api, read_all
from .test_wallet_workers import _start, _workers

pytestmark = pytest.mark.e2e


@pytest.fixture
def split_wallet(topic: str, tmp_path: Path) -> Iterator[tuple[WalletProcess, str]]:
    schema, port = unique_name("e2e_background"), free_port()
    env = {
        **os.environ,
        "WALLET_DATABASE_SCHEMA": schema,
        "WALLET_EVENTS_TOPIC": topic,
        "WALLET_MISSIONS_TOPIC": f"{topic}.missions",
        "WALLET_MISSIONS_CONSUMER": schema,
        "WALLET_HTTP_PORT": str(port),
        "WALLET_BACKGROUND_PROCESS": "true",
    }
    process = WalletProcess(f"http://127.0.0.1:{port}", env, topic, tmp_path / "wallet.log")
    _start(process)
    yield process, schema
    assert process.stop() == 0, process.log.read_text()
    with psycopg.connect(InfraSettings().database_url("wallet"), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _roles(parent: int) -> dict[str, int]:
    """The supervisor's children by the role it gave them."""
    roles = {}
    for pid in _workers(parent):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:  # gone since the listing (the killed one)
            continue
        role = next(v for k, _, v in (e.partition(b"=") for e in environ) if k == ROLE_ENV.encode())
        roles[role.decode()] = pid
    return roles


def _lock_held(schema: str) -> bool:
    with psycopg.connect(InfraSettings().database_url("wallet"), autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key("wallet", schema),))
        return row.fetchone() == (False,)  # the connection's close releases a lock it took


def _until(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.3)


async def test_the_background_runs_apart_from_http_and_comes_back_when_killed(split_wallet):
    wallet, schema = split_wallet
    assert wallet.process is not None
    roles = _roles(wallet.process.pid)
    assert sorted(roles) == ["api", "background"]
    _until(lambda: _lock_held(schema))  # the background process took the lock

    admin = Api(wallet.url, wallet.token("municipal_admin", "b-admin"))
    assert (await admin.post("/v1/treasury/genesis", {})).status_code == 201
    # The API process stored it; the background process's relay publishes it.
    published = len(await read_all(wallet.topic, expected=1))
    assert published >= 1

    os.kill(roles["background"], signal.SIGKILL)
    _until(lambda: _roles(wallet.process.pid).get("background") not in (None, roles["background"]))
    assert _roles(wallet.process.pid)["api"] == roles["api"]  # HTTP was not interrupted
    _until(lambda: _lock_held(schema))
    await admin.post("/v1/budgets", {"programme": "again", "label": "Again"})
    allocation = await admin.post("/v1/budgets/again/allocations", {"amount": 500})
    assert allocation.status_code == 201
    # The new background process relays what was stored after its predecessor died.
    assert len(await read_all(wallet.topic, expected=published + 1, timeout=60)) > published
