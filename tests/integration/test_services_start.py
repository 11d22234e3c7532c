"""`kgo serve <service>` as an operator runs it: it starts, says it is alive and ready, serves
its metrics, and on SIGTERM stops its components and exits 0. Each run keeps its tables in a
schema of its own and listens on a free port, beside any running services."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from kgo_cli.infra.processes import free_port
from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import unique_name

pytestmark = pytest.mark.integration

INFRA = InfraSettings()


def kgo_command() -> list[str]:
    script = Path(sys.executable).with_name("kgo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kgo_cli.main"]


def wait_for(url: str, status: int, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: httpx.Response | str = "no answer"
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2)
            if last.status_code == status:
                return last
        except httpx.TransportError as e:
            last = repr(e)
        time.sleep(0.1)
    raise TimeoutError(f"{url} never answered {status}; last: {last!r}")


def drop_schema(service: str, schema: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(INFRA.database_url(service))
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture(params=["missions", "merchant", "transit", "projections"])
def service(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A service and a schema for its tables; the service creates it, the test drops it."""
    name, schema = request.param, unique_name("t_serve")
    yield name, schema
    drop_schema(name, schema)


@pytest.mark.timeout(300)
def test_kgo_serve_is_alive_ready_measured_and_stops_on_sigterm(service: tuple[str, str]) -> None:
    name, schema = service
    port = free_port()
    prefix = name.upper()
    env = os.environ | {
        f"{prefix}_HTTP_PORT": str(port),
        f"{prefix}_DATABASE_SCHEMA": schema,
        f"{prefix}_LOG_LEVEL": "INFO",
    }
    process = subprocess.Popen(
        [*kgo_command(), "serve", name],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        alive = wait_for(f"{base}/healthz", 200, timeout=120)
        assert alive.json() == {"status": "ok"}

        ready = wait_for(f"{base}/readyz", 200, timeout=120)
        assert ready.json()["checks"] == {"postgres": "ok", "kafka": "ok", "components": "ok"}

        metrics = httpx.get(f"{base}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert f'kgo_service_info{{service="{name}"}} 1.0' in metrics.text
        if name != "projections":  # the others relay their event store to their topic
            # (a value only: on a shared broker its consumers may already have had work)
            assert f'kgo_relay_position{{relay="{name}"}} ' in metrics.text
        assert 'kgo_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics.text
        # Started: what existed then is frozen out of the collector's walks
        # (kgo_runtime.collector), and the collections' pauses are measured.
        frozen = re.search(r"^kgo_gc_frozen_objects (\S+)$", metrics.text, re.M)
        assert frozen and float(frozen.group(1)) > 10_000
        assert 'kgo_gc_pause_seconds_count{generation="0"}' in metrics.text

        traced = httpx.get(f"{base}/healthz", headers={"X-Correlation-ID": "e2e-1"}, timeout=5)
        assert traced.headers["X-Correlation-ID"] == "e2e-1"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _stdout, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            _stdout, stderr = process.communicate()
            pytest.fail(f"kgo serve did not stop within 15 s after SIGTERM:\n{stderr[-3000:]}")

    assert process.returncode == 0, stderr[-3000:]
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    events = [entry["event"] for entry in logs]
    assert "service started" in events
    assert "service stopped" in events
    assert ("relay open" in events) == (name != "projections")
    assert all(entry["service"] == name for entry in logs)
