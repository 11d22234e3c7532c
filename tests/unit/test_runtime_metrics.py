"""The runtime's shared metrics: commands by outcome and reason, code failures read from the
problem a route answered, devices seen, the relay's lag in seconds, and the conventions every
exported name follows."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from kgo_runtime.http import device_seen, install_middleware
from kgo_runtime.metrics import Metrics
from kgo_runtime.problems import REPLAYED_HEADER, ProblemError, install_error_handlers
from kgo_runtime.relay import Relay

pytestmark = pytest.mark.unit


def app_with(metrics: Metrics) -> FastAPI:
    app = FastAPI()
    app.state.metrics = metrics
    install_middleware(app)
    install_error_handlers(app, service="test")

    @app.post("/v1/signups/{signup_id}/confirm")
    async def confirm(signup_id: str, code: str) -> JSONResponse:
        if code != "123456":
            raise ProblemError(422, "code_incorrect", "the code is not right")
        return JSONResponse({"ok": signup_id}, status_code=201)

    @app.post("/v1/payment-codes")
    async def issue() -> JSONResponse:
        return JSONResponse({"code": "x"}, status_code=201, headers={REPLAYED_HEADER: "true"})

    @app.post("/v1/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    @app.get("/v1/validators/{validator_id}")
    async def seen(validator_id: str, request: Request) -> dict[str, str]:
        device_seen(request, "validator", validator_id)
        return {}

    return app


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_commands_are_counted_by_route_template_outcome_and_reason() -> None:
    metrics = Metrics("test")
    with TestClient(app_with(metrics), raise_server_exceptions=False) as client:
        for signup in ("a1", "b2", "c3"):
            client.post(f"/v1/signups/{signup}/confirm", params={"code": "000000"})
        client.post("/v1/signups/d4/confirm", params={"code": "123456"})
        client.post("/v1/payment-codes")
        client.post("/v1/crash")

    confirm = "POST /v1/signups/{signup_id}/confirm"
    assert sample(metrics, "kgo_commands_total", command=confirm, outcome="refused",
                  reason_code="code_incorrect") == 3  # fmt: skip
    assert sample(metrics, "kgo_commands_total", command=confirm, outcome="accepted",
                  reason_code="none") == 1  # fmt: skip
    assert sample(metrics, "kgo_commands_total", command="POST /v1/payment-codes",
                  outcome="replayed", reason_code="none") == 1  # fmt: skip
    assert sample(metrics, "kgo_commands_total", command="POST /v1/crash", outcome="failed",
                  reason_code="internal_error") == 1  # fmt: skip
    assert sample(metrics, "kgo_command_duration_seconds_count", command=confirm,
                  outcome="refused") == 3  # fmt: skip
    assert sample(metrics, "kgo_code_failures_total", kind="one_time_code") == 3
    text = metrics.render().decode()
    assert "a1" not in text and "b2" not in text  # the template, never the raw path


def test_a_device_is_seen_by_its_fleet_id() -> None:
    metrics = Metrics("test")
    with TestClient(app_with(metrics)) as client:
        client.get("/v1/validators/KKB-01-V01")
    assert sample(metrics, "kgo_device_last_seen_timestamp_seconds", kind="validator",
                  device="KKB-01-V01") > 1.7e9  # fmt: skip


def test_a_reading_is_declared_but_has_no_sample_until_it_is_measured() -> None:
    metrics = Metrics("wallet")
    gap = metrics.reading("wallet_conservation_gap_coins", "Minted minus held: always 0.")
    before = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    assert before["kgo_wallet_conservation_gap_coins"].samples == []
    gap.set(-5)
    assert "kgo_wallet_conservation_gap_coins -5.0" in metrics.render().decode()
    with pytest.raises(ValueError, match="Duplicated"):
        metrics.reading("wallet_conservation_gap_coins", "again")


def test_relay_lag_seconds_is_the_age_of_the_oldest_unpublished_event() -> None:
    relay = Relay.__new__(Relay)
    relay._seen_stored, relay._position = deque(), 10
    assert relay._waited(10, now=100.0) == 0.0  # caught up
    assert relay._waited(15, now=101.0) == 0.0  # 11..15 first seen now
    assert relay._waited(20, now=103.0) == 2.0  # 16..20 seen later; 11 waits since 101
    relay._position = 15
    assert relay._waited(20, now=104.0) == 1.0  # 16 waits since 103
    relay._position = 20
    assert relay._waited(20, now=105.0) == 0.0
    assert not relay._seen_stored


def test_the_relay_measures_its_lag_afresh_each_time_it_goes_idle() -> None:
    """A reader seeing lag 0 (the simulator's quiescence barrier) must not see a value older
    than the relay's last look at the store: going idle forces the check its 0.5 s
    throttle would skip while it moves records."""
    relay = Relay.__new__(Relay)
    relay._stopping, moves, checks = asyncio.Event(), [3, 2, 0], []

    async def relay_once() -> int:
        return moves.pop(0)

    async def update_lag(*, force: bool = False) -> None:
        checks.append(force)

    async def idle() -> None:
        relay._stopping.set()

    relay.relay_once, relay._update_lag, relay._idle = relay_once, update_lag, idle  # type: ignore[method-assign]
    relay._holds_lock = lambda: True  # type: ignore[method-assign]
    asyncio.run(relay._loop())
    assert checks == [False, False, True]


def test_every_runtime_name_follows_the_conventions() -> None:
    metrics = Metrics("test")
    families = list(text_string_to_metric_families(metrics.render().decode()))
    ours = [f for f in families if f.name.startswith("kgo_")]
    assert len(ours) > 15
    units = ("_seconds", "_coins", "_records", "_events", "_objects", "_info", "_position")
    for family in ours:
        if family.type == "counter":
            continue  # exposed as <name>_total
        assert family.name.endswith(units) or family.type == "histogram", family.name
