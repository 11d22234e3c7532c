"""The HTTP side every service shares: ``/healthz``, ``/readyz``, ``/metrics``, the
correlation-id middleware with request metrics, and ``provided()`` for routes that need
something the bootstrap built.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kgo_runtime.logging import CORRELATION_HEADER, correlation
from kgo_runtime.metrics import METRICS_CONTENT_TYPE, Metrics

_HEADER_KEY = CORRELATION_HEADER.lower().encode()

health = APIRouter(tags=["operations"])


@health.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and its event loop answers."""
    return {"status": "ok"}


@health.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when Kafka and Postgres answer and the service's components are built; 503 with
    the failing checks otherwise."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return JSONResponse({"status": "starting", "checks": {}}, status_code=503)
    checks: dict[str, str] = await runtime.readiness()
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@health.get("/metrics")
async def metrics(request: Request) -> Response:
    registry: Metrics | None = getattr(request.app.state, "metrics", None)
    if registry is None:
        raise HTTPException(503, "metrics not initialised yet")
    return Response(registry.render(), media_type=METRICS_CONTENT_TYPE)


def install_middleware(app: FastAPI) -> None:
    """Correlation id (``X-Correlation-ID`` in, or a new one; echoed back) and request metrics."""
    app.add_middleware(CorrelationMiddleware)


class CorrelationMiddleware:
    """Plain ASGI (no per-request task as with ``BaseHTTPMiddleware``): the correlation id is
    set for the whole request, including the route and everything it logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(_HEADER_KEY)
        status = 500
        started = time.perf_counter()
        with correlation(given.decode("latin-1") if given else None) as cid:
            echoed = (_HEADER_KEY, cid.encode("latin-1"))

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message = {**message, "headers": [*message.get("headers", ()), echoed]}
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                _observe(scope, status, time.perf_counter() - started)


def _observe(scope: Scope, status: int, seconds: float) -> None:
    registry: Metrics | None = getattr(scope["app"].state, "metrics", None)
    route = scope.get("route")
    if registry is None or route is None:
        return  # unmatched paths are not labelled, so scanners cannot blow up the series
    path = getattr(route, "path", "unmatched")
    registry.http_requests.labels(scope["method"], path, str(status)).inc()
    registry.http_duration.labels(scope["method"], path).observe(seconds)


def provided(name: str) -> Callable[[Request], Any]:
    """A FastAPI dependency returning ``app.state.<name>`` set by the bootstrap's build, or
    503 while the service is still connecting to its infrastructure."""

    def dependency(request: Request) -> Any:
        value = getattr(request.app.state, name, None)
        if value is None:
            raise HTTPException(503, f"{name} is not ready yet")
        return value

    return dependency
