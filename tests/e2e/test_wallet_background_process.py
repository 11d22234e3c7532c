"""`kgo serve wallet` with WALLET_BACKGROUND_PROCESS=true: one process serves the API only, one
more runs the relay, directory, sweeper and missions consumer and serves no API, only its
metrics and probes on WALLET_BACKGROUND_METRICS_PORT. A spend answered by the first reaches
Kafka through the second; the second, killed, is started again and takes the background lock
back, while the first keeps answering; both stop with the supervisor. Each serves its own
metrics on a port of its own, as the service lists them at /metrics/targets: a real
Prometheus discovering them there sees the relay's and the consumer's series from the
second, `kgo status` shows the second's relay lag, and the simulator's barrier waits for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from kgo_cli.simulate.barrier import Quiescence
from kgo_runtime.leadership import lock_key
from kgo_runtime.roles import ROLE_ENV
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.targets import TARGETS_PATH
from kgo_runtime.testing import unique_name

from .conftest import WalletProcess, free_port, free_process_ports, wallet_env
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
        WALLET_PROCESS_METRICS_PORT=str(free_process_ports(1)),
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
    listed = httpx.get(f"{wallet.url}{TARGETS_PATH}", timeout=5).json()
    targets = [group["targets"][0] for group in listed]
    assert targets[1] == background.removeprefix("http://") and wallet.url not in targets
    # As deploy/prometheus/prometheus.yml says for a service run as a group.
    config = yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "kgo", "http_sd_configs": [
            {"url": f"{wallet.url}{TARGETS_PATH}", "refresh_interval": "1s"}]}],
    })  # fmt: skip
    admin = Api(wallet.url, wallet.token("municipal_admin", "b-prom-admin"))
    assert (await admin.post("/v1/treasury/genesis", {})).status_code == 201
    with prometheus_server(config, tmp_path) as prometheus:
        up = until(lambda: len(r := query(prometheus, 'up{service="wallet"} == 1')) == 2 and r)
        assert {item["metric"]["instance"] for item in up} == set(targets)
        assert {item["metric"]["role"] for item in up} == {"api", "background"}
        relayed_events = 'kgo_relay_events_total{service="wallet", relay="wallet"} > 0'
        relayed = until(lambda: query(prometheus, relayed_events))
        assert [item["metric"]["instance"] for item in relayed] == [targets[1]]
        # What the alert rules read (KgoRelayLagging, KgoConsumerLagging) is there.
        assert query(prometheus, "max by (service, relay) (kgo_relay_lag_events)")
        assert until(lambda: query(prometheus, 'kgo_consumer_position{service="wallet"}'))
        # The supply, measured beside the directory: from there only (no 0 from the API).
        conserved = until(lambda: query(prometheus, "kgo_wallet_supply_conserved == 1"))
        assert [item["metric"]["instance"] for item in conserved] == [targets[1]]
        # The API's requests are counted by the process that served them, on its own port.
        served = until(
            lambda: query(prometheus, 'kgo_http_requests_total{route="/v1/treasury/genesis"}')
        )
        assert {item["metric"]["instance"] for item in served} == {targets[0]}


def _status(wallet: WalletProcess, home: Path) -> tuple[int, dict[str, Any]]:
    """`kgo status --service wallet --json` as an operator runs it, beside no `kgo run`."""
    done = subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", "status", "--service", "wallet", "--json"],
        env={**wallet.env, "KGO_HOME": str(home)}, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)["services"][0]


async def test_kgo_status_and_the_barrier_see_the_background_process(
    split_wallet: SplitWallet, tmp_path: Path
) -> None:
    """The shared HTTP port has no relay: `kgo status` and the barrier read it from the
    background process's own port, and while that process does not answer (stopped) the
    barrier waits, though the API answers and stores."""
    wallet, background = split_wallet.process, split_wallet.background_url
    assert wallet.process is not None
    _until(lambda: _lock_held(split_wallet.schema))
    admin = Api(wallet.url, wallet.token("municipal_admin", "b-status-admin"))
    assert (await admin.post("/v1/treasury/genesis", {})).status_code == 201
    assert await read_all(wallet.topic, expected=1)

    code, row = _status(wallet, tmp_path)
    processes = {process["role"]: process for process in row["processes"]}
    assert code == 0 and sorted(processes) == ["api", "background"]
    assert processes["background"]["url"] == background
    assert processes["background"]["relay_lag"] is not None  # the relay's gauge, measured
    assert processes["api"]["relay_lag"] is None  # the API process runs no relay
    assert row["relay_lag"] == processes["background"]["relay_lag"]

    async with httpx.AsyncClient() as client:
        barrier = Quiescence(lambda: client, [wallet.url], InfraSettings().kafka_bootstrap)
        try:
            assert await barrier.wait(timeout=60)
            stopped = _roles(wallet.process.pid)["background"]
            os.kill(stopped, signal.SIGSTOP)  # its relay stands still, its port answers nothing
            try:
                await admin.post("/v1/budgets", {"programme": "held", "label": "Held"})
                assert not await barrier.wait(timeout=3)
                code, row = _status(wallet, tmp_path)
                assert code == 1 and row["ready"] == "ready"  # the API answers
                assert [p["ready"] for p in row["processes"]] == ["ready", "down"]
            finally:
                os.kill(stopped, signal.SIGCONT)
            assert await barrier.wait(timeout=60)
        finally:
            await barrier.close()
