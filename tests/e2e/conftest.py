"""End-to-end fixtures: a real `kgo serve wallet` process on the real Kafka and PostgreSQL,
in a Postgres schema and on a topic of its own, driven only through HTTP and Kafka."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WalletProcess:
    url: str
    env: dict[str, str]
    topic: str
    process: subprocess.Popen[bytes]
    log: Path

    def kgo(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kgo_cli.main", *args],
            env=self.env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def token(self, role: str, name: str, subject: str | None = None) -> str:
        args = ["wallet", "token", "create", "--role", role, "--name", name]
        done = self.kgo(*args, *(["--subject", subject] if subject else []))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    bootstrap = InfraSettings().kafka_bootstrap
    name = unique_name("e2e.wallet")
    await create_topics(bootstrap, [name], partitions=6)
    yield name
    await delete_topics(bootstrap, [name])


@pytest.fixture
def wallet(topic: str, tmp_path: Path) -> Iterator[WalletProcess]:
    schema = unique_name("e2e_wallet")
    port = free_port()
    env = {
        **os.environ,
        "WALLET_DATABASE_SCHEMA": schema,
        "WALLET_EVENTS_TOPIC": topic,
        "WALLET_HTTP_PORT": str(port),
        "WALLET_HOLD_SWEEP_SECONDS": "0.5",
    }
    log = tmp_path / "wallet.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kgo_cli.main", "serve", "wallet"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log.read_text()
        time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(f"wallet not ready:\n{log.read_text()}")
    yield WalletProcess(url, env, topic, process, log)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    database_url = InfraSettings().database_url("wallet")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
