"""The processes `kgo serve` runs for a service, and what each of them does."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import typer
from fastapi import FastAPI

from kgo_cli.serve_cmd import _children
from kgo_runtime.roles import ROLE_ENV, Role, process_role, run_without_http

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
    assert [(r.serves_http, r.runs_components, r.leads) for r in Role] == [
        (True, True, False),  # all: alone, everything
        (True, True, True),  # worker: HTTP, and the components while it holds the lock
        (True, False, False),  # api: HTTP only
        (False, True, True),  # background: the components only, under the lock
    ]
    monkeypatch.setenv(ROLE_ENV, "leader")
    with pytest.raises(RuntimeError, match=ROLE_ENV):
        process_role()


async def test_without_http_the_lifespan_runs_until_sigterm() -> None:
    seen: list[str] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        seen.append("started")
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        yield
        seen.append("stopped")

    await asyncio.wait_for(run_without_http(FastAPI(lifespan=lifespan)), 5)
    assert seen == ["started", "stopped"]
