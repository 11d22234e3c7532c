"""A service process before its infrastructure answers: alive, not ready, and saying why."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from kgo_runtime.logging import configure_logging, correlation, get_logger
from kgo_runtime.metrics import Metrics
from services.missions.bootstrap import create_app
from services.missions.settings import MissionsSettings

pytestmark = pytest.mark.unit

NOWHERE = MissionsSettings(
    kafka_bootstrap="127.0.0.1:1", database_url="postgresql://kgo@127.0.0.1:1/kgo_missions"
)


def test_create_app_connects_to_nothing() -> None:
    app = create_app(NOWHERE)
    assert app.state.settings is NOWHERE
    assert not hasattr(app.state, "runtime")


def test_alive_but_not_ready_while_kafka_and_postgres_are_down() -> None:
    with TestClient(create_app(NOWHERE)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}

        ready = client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["postgres"].startswith("down")
        assert checks["kafka"].startswith("down")
        assert checks["components"] == "connecting"

        client.get("/no-such-route")
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert 'kgo_service_info{service="missions"} 1.0' in metrics.text
        assert (
            'kgo_http_requests_total{method="GET",route="/readyz",status="503"} 1.0' in metrics.text
        )
        assert "no-such-route" not in metrics.text


def test_correlation_id_is_echoed_or_made_up() -> None:
    with TestClient(create_app(NOWHERE)) as client:
        given = client.get("/healthz", headers={"X-Correlation-ID": "till-42"})
        made_up = client.get("/healthz")

    assert given.headers["X-Correlation-ID"] == "till-42"
    assert len(made_up.headers["X-Correlation-ID"]) == 32


def test_settings_take_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISSIONS_HTTP_PORT", "9999")
    monkeypatch.setenv("MISSIONS_DATABASE_SCHEMA", "t_abc")
    settings = MissionsSettings()
    assert settings.http_port == 9999
    assert settings.database_schema == "t_abc"
    assert settings.database_url.endswith("/kgo_missions")


def test_logs_are_json_lines_with_service_and_correlation_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("missions", "INFO")
    try:
        with correlation("ce-123"):
            get_logger("test").info("mission completed", reward=20)
        logging.getLogger("uvicorn.error").info("library log")
    finally:
        logging.getLogger().handlers = [
            h for h in logging.getLogger().handlers if h.get_name() != "kgo"
        ]

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    ours, library = lines[-2], lines[-1]
    assert ours["event"] == "mission completed"
    assert ours["service"] == "missions"
    assert ours["correlation_id"] == "ce-123"
    assert ours["reward"] == 20
    assert ours["level"] == "info"
    assert library["event"] == "library log"
    assert library["service"] == "missions"
    assert "correlation_id" not in library


def test_metrics_are_prefixed_and_kept_per_registry() -> None:
    first, second = Metrics("a"), Metrics("b")
    first.relay_events.labels("wallet").inc(3)
    extra = first.counter("grants_total", "Grants recorded.", ["programme"])
    extra.labels("welcome").inc()

    text = first.render().decode()
    assert 'kgo_relay_events_total{relay="wallet"} 3.0' in text
    assert 'kgo_grants_total{programme="welcome"} 1.0' in text
    assert "kgo_grants_total" not in second.render().decode()


def test_faststream_middleware_uses_the_same_registry() -> None:
    metrics = Metrics("wallet")
    middleware = metrics.faststream_middleware()
    assert middleware is not None
