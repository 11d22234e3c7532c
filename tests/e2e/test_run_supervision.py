"""`kgo run` as an operator runs it, here with the wallet and the projections on topics and
schemas of their own: kill -9 the projections, and the supervisor starts them again after
its backoff while the wallet keeps answering; `kgo status`, the status file and the
supervisor's /metrics all count the restart; Ctrl-C (SIGTERM) still stops everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest

from kgo_runtime.settings import PROJECT_ROOT, InfraSettings
from kgo_runtime.testing import create_topics, delete_topics, unique_name

from .conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

BOOTSTRAP = InfraSettings().kafka_bootstrap


@pytest.fixture
async def topics() -> AsyncIterator[dict[str, str]]:
    name = unique_name("e2e.run")
    names = {k: f"{name}.{k}" for k in ("wallet", "missions", "merchant", "transit")}
    every = [*names.values(), *(f"{t}.dlq" for t in names.values())]
    await create_topics(BOOTSTRAP, every, partitions=1)
    yield names
    await delete_topics(BOOTSTRAP, every)


def _until(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"never happened: {what}")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_service_killed_under_kgo_run_comes_back_and_the_others_keep_answering(
    topics: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "kgo"
    ports = {"wallet": free_port(), "projections": free_port(), "supervisor": free_port()}
    schemas = {s: unique_name(f"e2e_run_{s}") for s in ("wallet", "projections")}
    env = {
        **os.environ,
        "KGO_HOME": str(home),
        "KGO_RUN_METRICS_PORT": str(ports["supervisor"]),
        "WALLET_HTTP_PORT": str(ports["wallet"]),
        "WALLET_DATABASE_SCHEMA": schemas["wallet"],
        "WALLET_EVENTS_TOPIC": topics["wallet"],
        "WALLET_MISSIONS_TOPIC": topics["missions"],
        "WALLET_MISSIONS_CONSUMER": unique_name("run-grants"),
        "PROJECTIONS_HTTP_PORT": str(ports["projections"]),
        "PROJECTIONS_DATABASE_SCHEMA": schemas["projections"],
        "PROJECTIONS_CONSUMER_NAME": unique_name("run-projections"),
        **{f"PROJECTIONS_{k.upper()}_TOPIC": v for k, v in topics.items()},
    }
    wallet, projections = (f"http://127.0.0.1:{ports[s]}" for s in ("wallet", "projections"))
    status_file = home / "run" / "status.json"
    argv = [sys.executable, "-m", "kgo_cli.main", "run", "-s", "wallet", "-s", "projections"]
    with (tmp_path / "kgo-run.out").open("wb") as out:
        run = subprocess.Popen(
            [*argv, "--no-prepare", "--backoff-cap", "2"],
            env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _until(lambda: _ready(wallet) and _ready(projections), 120, "both services ready")
        before = json.loads(status_file.read_text())["services"]
        assert before["projections"]["restarts"] == 0

        os.kill(before["projections"]["pid"], signal.SIGKILL)
        answered = 0
        while not _ready(projections) or answered == 0:
            # The wallet answers all along: one crash no longer stops the platform.
            assert httpx.get(f"{wallet}/healthz", timeout=5).status_code == 200
            answered += 1
            assert run.poll() is None, (tmp_path / "kgo-run.out").read_text()
            time.sleep(0.2)

        after = json.loads(status_file.read_text())["services"]
        assert after["projections"]["restarts"] == 1
        assert after["projections"]["pid"] not in (None, before["projections"]["pid"])
        assert after["projections"]["last_exit"] == -signal.SIGKILL
        assert after["wallet"]["pid"] == before["wallet"]["pid"]
        assert after["wallet"]["restarts"] == 0

        shown = subprocess.run(
            [sys.executable, "-m", "kgo_cli.main", "status", "--json"],
            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stdout + shown.stderr
        rows = {row["service"]: row for row in json.loads(shown.stdout)["services"]}
        assert rows["projections"]["restarts"] == 1 and rows["projections"]["ready"] == "ready"
        assert rows["wallet"]["restarts"] == 0 and rows["wallet"]["relay_lag"] is not None

        metrics = httpx.get(f"http://127.0.0.1:{ports['supervisor']}/metrics", timeout=5).text
        assert 'kgo_supervisor_restarts_total{service="projections"} 1.0' in metrics
        assert 'kgo_supervisor_restarts_total{service="wallet"} 0.0' in metrics
        output = (tmp_path / "kgo-run.out").read_text()
        assert "projections killed by signal 9; restarting in" in output
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
        code = run.wait(timeout=60)
        for service, schema in schemas.items():
            with psycopg.connect(InfraSettings().database_url(service), autocommit=True) as db:
                db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    assert code == 0, (tmp_path / "kgo-run.out").read_text()
    assert "platform stopped" in (tmp_path / "kgo-run.out").read_text()
    assert json.loads(status_file.read_text())["services"]["wallet"]["pid"] is None
