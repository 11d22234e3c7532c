"""`kgo serve wallet` with WALLET_BACKGROUND_PROCESS=true: one process serves the API only, one
more runs the relay, directory, sweeper and missions consumer and serves no API, only its
metrics and probes on WALLET_BACKGROUND_METRICS_PORT. A spend answered by the first reaches
Kafka through the second; the second, killed, is started again and takes the background lock
back, while the first keeps answering; both stop with the supervisor. A real Prometheus
scraping both targets sees the relay's and the consumer's series, from the second."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from kgo_runtime.leadership import lock_key
from kgo_runtime.roles import ROLE_ENV
from kgo_runtime.settings import InfraSettings
from kgo_runtime.testing import unique_name

from .conftest import WalletProcess, free_port, wallet_env
from .test_prometheus import prometheus_server, query, until
from .test_wallet_journey import Api, read_all
from .test_wallet_workers import _start, _workers

pytestmark = pytest.mark.e2e


@dataclass
class SplitWallet:
    process: WalletProcess
    schema: str
    #: The background process's own address: /metrics, /healthz, /readyz.
    background_url: str


@pytest.fixture
def split_wallet(topic: str, tmp_path: Path) -> Iterator[SplitWallet]:
    schema, port, background_port = unique_name("e2e_background"), free_port(), free_port()
    env = wallet_env(
        schema, topic, port,
        WALLET_BACKGROUND_PROCESS="true",
        WALLET_BACKGROUND_METRICS_PORT=str(background_port),
        WALLET_HOLD_SWEEP_SECONDS="0.5",  # the sweeper measures the supply as often
    )  # fmt: skip
    process = WalletProcess(f"http://127.0.0.1:{port}", env, topic, tmp_path / "wallet.log")
    _start(process)
    yield SplitWallet(process, schema, f"http://127.0.0.1:{background_port}")
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
        role = dict(e.partition(b"=")[::2] for e in environ).get(ROLE_ENV.encode())
        if role is None:
            # Not its role's process yet or any more: forked but not yet exec'd (its environ
            # is still the supervisor's), or dying from the SIGKILL (its memory, environ
            # included, already released: an empty read until it is a zombie).
            continue
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
    wallet, schema = split_wallet.process, split_wallet.schema
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


async def test_prometheus_scrapes_the_relay_and_consumers_from_the_background_process(
    split_wallet: SplitWallet, tmp_path: Path
) -> None:
    wallet, background = split_wallet.process, split_wallet.background_url
    _until(lambda: _lock_held(split_wallet.schema))
    assert httpx.get(f"{background}/readyz", timeout=5).status_code == 200
    assert httpx.post(f"{background}/v1/treasury/genesis", timeout=5).status_code == 404
    targets = [wallet.url.removeprefix("http://"), background.removeprefix("http://")]
    config = yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "kgo", "static_configs": [
            {"targets": targets, "labels": {"service": "wallet"}}]}],
    })  # fmt: skip
    admin = Api(wallet.url, wallet.token("municipal_admin", "b-prom-admin"))
    assert (await admin.post("/v1/treasury/genesis", {})).status_code == 201
    with prometheus_server(config, tmp_path) as prometheus:
        up = until(lambda: len(r := query(prometheus, 'up{service="wallet"} == 1')) == 2 and r)
        assert {item["metric"]["instance"] for item in up} == set(targets)
        relayed_events = 'kgo_relay_events_total{service="wallet", relay="wallet"} > 0'
        relayed = until(lambda: query(prometheus, relayed_events))
        assert [item["metric"]["instance"] for item in relayed] == [targets[1]]
        # What the alert rules read (KgoRelayLagging, KgoConsumerLagging) is there.
        assert query(prometheus, "max by (service, relay) (kgo_relay_lag_events)")
        assert until(lambda: query(prometheus, 'kgo_consumer_position{service="wallet"}'))
        # The supply, measured beside the directory: from there only (no 0 from the API).
        conserved = until(lambda: query(prometheus, "kgo_wallet_supply_conserved == 1"))
        assert [item["metric"]["instance"] for item in conserved] == [targets[1]]
        # The API's requests are counted by the process that served them.
        served = until(
            lambda: query(prometheus, 'kgo_http_requests_total{route="/v1/treasury/genesis"}')
        )
        assert {item["metric"]["instance"] for item in served} == {targets[0]}
