"""The processes `kgo serve` runs for a service, and what each of them does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kgo_cli.serve_cmd import _children
from kgo_runtime.http import health
from kgo_runtime.metrics import Metrics
from kgo_runtime.roles import ROLE_ENV, Role, operations_app, process_role
from services.wallet.settings import WalletSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("workers", "apart", "children"),
    [
        (None, None, []),
        ("1", "false", []),
        ("3", None, [Role.WORKER] * 3),
        (None, "true", [Role.API, Role.BACKGROUND]),
        ("2", "1", [Role.API, Role.API, Role.BACKGROUND]),
    ],
)
def test_the_settings_name_the_processes(
    monkeypatch: pytest.MonkeyPatch, workers: str | None, apart: str | None, children: list[Role]
) -> None:
    for name, value in (("WALLET_HTTP_WORKERS", workers), ("WALLET_BACKGROUND_PROCESS", apart)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert _children("wallet") == children


def test_a_setting_that_is_not_a_bool_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLET_BACKGROUND_PROCESS", "sometimes")
    with pytest.raises(typer.Exit):
        _children("wallet")


def test_what_each_role_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROLE_ENV, raising=False)
    assert process_role() is Role.ALL
    assert [(r.serves_api, r.runs_components, r.leads) for r in Role] == [
        (True, True, False),  # all: alone, everything
        (True, True, True),  # worker: HTTP, and the components while it holds the lock
        (True, False, False),  # api: HTTP only
        (False, True, True),  # background: the components only, under the lock
    ]
    monkeypatch.setenv(ROLE_ENV, "leader")
    with pytest.raises(RuntimeError, match=ROLE_ENV):
        process_role()


def test_the_background_process_serves_its_metrics_and_probes_but_no_api() -> None:
    seen: list[str] = []
    metrics = Metrics("wallet")
    metrics.relay_events.labels("wallet").inc(3)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        seen.append("started")
        app.state.metrics = metrics
        yield
        seen.append("stopped")

    app = FastAPI(lifespan=lifespan)
    app.include_router(health)
    app.add_api_route("/v1/treasury/genesis", lambda: {"minted": True}, methods=["POST"])
    with TestClient(operations_app(app)) as client:
        assert seen == ["started"]
        scraped = client.get("/metrics")
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.post("/v1/treasury/genesis").status_code == 404
        assert client.get("/openapi.json").status_code == 404
    assert seen == ["started", "stopped"]
    assert 'kgo_relay_events_total{relay="wallet"} 3.0' in scraped.text


def test_the_background_metrics_port_defaults_beside_the_http_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("WALLET_HTTP_PORT", "WALLET_BACKGROUND_METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert WalletSettings().background_metrics_port == 8201
    monkeypatch.setenv("WALLET_HTTP_PORT", "18101")
    assert WalletSettings().background_metrics_port == 18201
    monkeypatch.setenv("WALLET_BACKGROUND_METRICS_PORT", "9464")
    assert WalletSettings().background_metrics_port == 9464
