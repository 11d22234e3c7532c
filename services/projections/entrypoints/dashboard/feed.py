"""What the stream needs from the rest of the service: the public overview, fetched from the
service's own ``GET /v1/public/overview`` (so the stream always carries exactly what the API
answers), the change signal ``app.state.changes``, and a flag that the server is stopping."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from fastapi import FastAPI

from kgo_runtime.logging import get_logger
from services.projections.entrypoints.dashboard.settings import DashboardSettings

log = get_logger(__name__)
OVERVIEW_PATH = "/v1/public/overview"


class Changes(Protocol):
    """The projections' change signal: ``version`` grows after each committed batch."""

    @property
    def version(self) -> int: ...

    async def wait(self, after: int, timeout: float) -> int: ...


class OverviewUnavailable(Exception):
    """The overview route did not answer 200 (the read models are still starting)."""


@dataclass
class OverviewFeed:
    """The overview as JSON text, fetched once per change version however many streams are
    open (each stream asks for the version it saw)."""

    app: FastAPI
    _cached: tuple[int, str] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def at(self, version: int) -> str:
        async with self._lock:
            if self._cached is None or self._cached[0] != version:
                self._cached = (version, await self._fetch())
            return self._cached[1]

    async def _fetch(self) -> str:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://projections") as http:
            answer = await http.get(OVERVIEW_PATH)
        if answer.status_code != 200:
            raise OverviewUnavailable(f"{OVERVIEW_PATH} answered {answer.status_code}")
        return answer.text


class ShutdownWatch:
    """Set once the server is stopping, so open streams end and uvicorn's graceful shutdown
    does not wait for them. uvicorn tells the app nothing before the open responses finished;
    its signal handler is a method of the running ``uvicorn.Server``, whose ``should_exit``
    is read here (read only, nothing is patched). Tests set ``stopping`` themselves."""

    def __init__(self, poll_seconds: float = 0.2) -> None:
        self.stopping = asyncio.Event()
        self._poll = poll_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        server = _uvicorn_server()
        if server is not None and self._task is None:
            self._task = asyncio.create_task(self._watch(server), name="dashboard:shutdown")

    async def _watch(self, server: Any) -> None:
        while not server.should_exit:
            await asyncio.sleep(self._poll)
        log.info("dashboard streams ending: the server is stopping")
        self.stopping.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _uvicorn_server() -> Any | None:
    owner = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return owner if hasattr(owner, "should_exit") else None


@dataclass
class Dashboard:
    """The dashboard's per-app state (``app.state.dashboard``), made on first use: the shared
    lifespan belongs to the service, so nothing here needs starting or stopping with it."""

    settings: DashboardSettings
    feed: OverviewFeed
    shutdown: ShutdownWatch

    @classmethod
    def of(cls, app: FastAPI) -> Dashboard:
        existing = getattr(app.state, "dashboard", None)
        if existing is None:
            existing = cls(DashboardSettings(), OverviewFeed(app), ShutdownWatch())
            app.state.dashboard = existing
        existing.shutdown.start()
        return existing
