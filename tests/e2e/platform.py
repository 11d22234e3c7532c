"""Several real `kgo serve <service>` processes working together, each with its own Postgres
schema, all on topics of their own (created per test), sharing one KGO_HOME so that the
wallet's access tokens verify everywhere. Driven only through HTTP and Kafka."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import unique_name

from .conftest import free_port


@dataclass
class ServiceProcess:
    """One `kgo serve <service>`; ``env`` already names its port, schema and topics."""

    service: str
    url: str
    env: dict[str, str]
    log: Path
    schema: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 180) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kgo_cli.main", "serve", self.service],
                env=self.env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, self.log.read_text()[-5000:]
            time.sleep(0.3)
        self.process.kill()
        pytest.fail(f"{self.service} not ready:\n{self.log.read_text()[-5000:]}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        """kill -9, as a crash would."""
        self.stop(signal.SIGKILL)

    def drop_schema(self) -> None:
        url = InfraSettings().database_url(self.service)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


def service_process(
    service: str, home: Path, extra_env: dict[str, str], logs: Path
) -> ServiceProcess:
    """A not yet started process of ``service`` on a free port and a fresh schema."""
    port = free_port()
    schema = unique_name(f"e2e_{service}")
    prefix = service.upper()
    env = {
        **os.environ,
        "KGO_HOME": str(home),
        f"{prefix}_DATABASE_SCHEMA": schema,
        f"{prefix}_HTTP_PORT": str(port),
        **extra_env,
    }
    return ServiceProcess(service, f"http://127.0.0.1:{port}", env, logs / f"{service}.log", schema)


def kgo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a `kgo` command with a service's environment."""
    return subprocess.run(
        [sys.executable, "-m", "kgo_cli.main", *args], env=env, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
