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
from kgo_runtime.roles import (
    INDEX_ENV,
    ROLE_ENV,
    Member,
    Role,
    members,
    operations_app,
    operations_only_on,
    process_role,
    this_member,
)
from kgo_runtime.settings import ServiceSettings
from kgo_runtime.targets import TARGETS_PATH, listed
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
    assert [member.role for member in _children("wallet")] == children


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


def _settings(**values: object) -> WalletSettings:
    return WalletSettings(http_port=8101, **values)  # type: ignore[arg-type]


def test_each_process_of_a_group_has_an_operations_port_of_its_own() -> None:
    assert members(_settings()) == [Member(Role.ALL, 0, 8101)]  # alone: the HTTP port, as ever
    assert members(_settings(http_workers=3)) == [
        Member(Role.WORKER, 0, 8301), Member(Role.WORKER, 1, 8401), Member(Role.WORKER, 2, 8501)
    ]  # fmt: skip
    assert members(_settings(http_workers=2, background_process=True)) == [
        Member(Role.API, 0, 8301), Member(Role.API, 1, 8401), Member(Role.BACKGROUND, 0, 8201)
    ]  # fmt: skip
    given = _settings(background_process=True, process_metrics_port=9000)
    assert [m.port for m in members(given)] == [9000, 8201]
    # The five services' default ports never meet, whatever the number of processes.
    ports = [
        m.port
        for name in ("wallet", "missions", "merchant", "transit", "projections")
        for m in members(_service(name, http_workers=6, background_process=True))
    ]
    assert len(ports) == len(set(ports)) == 5 * 7


def _service(name: str, **values: object) -> ServiceSettings:
    from kgo_cli.status_cmd import settings_class

    return settings_class(name)(**values)  # type: ignore[arg-type]


def test_a_process_finds_itself_among_the_group(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(http_workers=2, background_process=True)
    monkeypatch.setenv(ROLE_ENV, "api")
    monkeypatch.setenv(INDEX_ENV, "1")
    assert this_member(settings) == Member(Role.API, 1, 8401)
    monkeypatch.setenv(ROLE_ENV, "background")
    monkeypatch.delenv(INDEX_ENV)
    assert this_member(settings) == Member(Role.BACKGROUND, 0, 8201)
    monkeypatch.setenv(ROLE_ENV, "worker")
    with pytest.raises(RuntimeError, match=INDEX_ENV):
        this_member(settings)  # no worker in a group with a background process


def _operations_app(settings: ServiceSettings) -> FastAPI:
    metrics = Metrics("wallet")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.metrics = metrics
        yield

    app = FastAPI(lifespan=lifespan)
    app.state.settings = settings
    app.include_router(health)
    app.add_api_route("/v1/treasury/genesis", lambda: {"minted": True}, methods=["POST"])
    return app


def test_an_http_process_answers_only_its_operations_on_its_own_port() -> None:
    app = _operations_app(_settings())
    # The test client's requests come in on port 80 ("testserver").
    with TestClient(operations_only_on(app, 80)) as own:
        assert own.get("/metrics").status_code == 200
        assert own.get("/readyz").status_code == 503  # (no runtime here)
        assert own.get(TARGETS_PATH).status_code == 200
        assert own.post("/v1/treasury/genesis").status_code == 404
    with TestClient(operations_only_on(app, 8301)) as shared:
        assert shared.post("/v1/treasury/genesis").json() == {"minted": True}


def test_any_process_lists_every_process_of_the_service_as_a_target() -> None:
    group = _settings(http_workers=2, background_process=True)
    with TestClient(_operations_app(group), base_url="http://10.0.0.7:8101") as client:
        answer = client.get(TARGETS_PATH)
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()[2] == {
        "targets": ["10.0.0.7:8201"],
        "labels": {"service": "wallet", "role": "background", "process": "0"},
    }
    assert [(t.url, t.role, t.process) for t in listed(answer.json())] == [
        ("http://10.0.0.7:8301", "api", "0"),
        ("http://10.0.0.7:8401", "api", "1"),
        ("http://10.0.0.7:8201", "background", "0"),
    ]
    with TestClient(_operations_app(_settings()), base_url="http://127.0.0.1:8101") as client:
        alone = listed(client.get(TARGETS_PATH).json())
    assert [t.url for t in alone] == ["http://127.0.0.1:8101"]  # itself, as before
    with pytest.raises(ValueError):
        listed({"targets": "x"})
