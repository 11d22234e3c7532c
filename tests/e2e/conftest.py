"""End-to-end fixtures: a real `kgo serve wallet` process on the real Kafka and PostgreSQL,
in a Postgres schema and on a topic of its own, driven only through HTTP and Kafka."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from kgo_cli.infra.processes import free_port, port_in_use
from kgo_runtime.settings import OPERATIONS_PORT_STEP, PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name


@dataclass
class WalletProcess:
    url: str
    env: dict[str, str]
    topic: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start `kgo serve wallet` and wait until it is ready."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kgo_cli.main", "serve", "wallet"],
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
            time.sleep(0.3)
        self.process.kill()
        pytest.fail(f"wallet not ready:\n{self.log.read_text()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=30)

    def kgo(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kgo_cli.main", *args], env=self.env, cwd=PROJECT_ROOT,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def token(self, role: str, name: str, subject: str | None = None) -> str:
        args = ["wallet", "token", "create", "--role", role, "--name", name]
        done = self.kgo(*args, *(["--subject", subject] if subject else []))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    bootstrap = InfraSettings().kafka_bootstrap
    name = unique_name("e2e.wallet")
    # The wallet also consumes a missions topic: its own, beside the wallet's.
    await create_topics(bootstrap, [name, f"{name}.missions"], partitions=6)
    yield name
    await delete_topics(bootstrap, [name, f"{name}.missions"])


def wallet_env(schema: str, topic: str, port: int, **settings: str) -> dict[str, str]:
    """A wallet process's environment: its own schema, topics and port, and ``settings``."""
    return {
        **os.environ,
        "WALLET_DATABASE_SCHEMA": schema,
        "WALLET_EVENTS_TOPIC": topic,
        "WALLET_MISSIONS_TOPIC": f"{topic}.missions",
        "WALLET_MISSIONS_CONSUMER": schema,
        "WALLET_HTTP_PORT": str(port),
        **settings,
    }


def free_process_ports(count: int) -> int:
    """A free port for HTTP process 0 of a group to serve its operations on, with those of
    processes 1 to ``count - 1`` (kgo_runtime.roles.members: 100 apart) free too."""
    while True:
        first = free_port()
        others = (first + OPERATIONS_PORT_STEP * i for i in range(1, count))
        if not any(port > 65_535 or port_in_use("127.0.0.1", port) for port in others):
            return first


@pytest.fixture
def wallet(topic: str, tmp_path: Path) -> Iterator[WalletProcess]:
    schema = unique_name("e2e_wallet")
    port = free_port()
    env = wallet_env(schema, topic, port, WALLET_HOLD_SWEEP_SECONDS="0.5")
    process = WalletProcess(f"http://127.0.0.1:{port}", env, topic, tmp_path / "wallet.log")
    process.start()
    yield process
    process.stop()
    database_url = InfraSettings().database_url("wallet")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
